"""Alerts and their delivery (DESIGN.md §1 "gets alerts"): the real server, a
real agent with real restic, and three real peers written here — an HTTP
receiver (port 0) standing in for a webhook target and for an ntfy server
(ntfy is an HTTP POST to <server>/<topic>), and a minimal SMTP server
(socketserver; it is the peer, not the thing under test).

A failed backup opens one alert and reaches all three channels; a later
successful backup resolves it (and that is delivered too); a stopped agent
opens an agent_offline alert (RM_TEST_OFFLINE_AFTER), its return resolves it.
Channel secrets are never answered, logged or audited; channel routes are
admin-only; bad input is a 400 naming the field; the test button and the
delivery log (with retries) work."""
import base64
import email
import glob
import json
import os
import shutil
import socketserver
import threading
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, SANITIZED, Agent, Client, Server, error_code, wait_for

RESTIC = shutil.which("restic")
PASSWORD = "repo-pass-Alerts-7Hq2"
WEBHOOK_TOKEN = "webhook-bearer-9fK2mQ7xLp"
HEADER_SECRET = "header-secret-Vb4nR8sT1w"
NTFY_TOKEN = "ntfy-token-Jd3kS9wQ2z"
SMTP_PASSWORD = "smtp-password-Xe5tY7uI0o"
SECRETS = [WEBHOOK_TOKEN, HEADER_SECRET, NTFY_TOKEN, SMTP_PASSWORD]
TIMEOUT = 180 if SANITIZED else 90
FINAL = ("succeeded", "warning", "failed", "cancelled")


# ---- peers ----

class Receiver:
    """HTTP receiver: records every POST; paths starting with /fail answer 500."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = 500 if self.path.startswith("/fail") else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def on(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SMTPServer:
    """A minimal SMTP server: EHLO (AUTH PLAIN LOGIN), AUTH, MAIL, RCPT, DATA, QUIT."""

    def __init__(self):
        self.messages = []
        self.auths = []
        outer = self

        class H(socketserver.StreamRequestHandler):
            def send(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.send("220 test ESMTP")
                mail = {"from": None, "to": [], "data": b""}
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("utf-8", "replace").strip()
                    up = cmd.upper()
                    if up.startswith("EHLO"):
                        self.wfile.write(b"250-test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                    elif up.startswith("HELO"):
                        self.send("250 test")
                    elif up.startswith("AUTH PLAIN"):
                        parts = cmd.split(" ", 2)
                        if len(parts) < 3:
                            self.send("334 ")
                            parts.append(self.rfile.readline().decode().strip())
                        outer.auths.append(base64.b64decode(parts[2]).split(b"\0"))
                        self.send("235 ok")
                    elif up.startswith("AUTH LOGIN"):
                        self.send("334 VXNlcm5hbWU6")
                        u = base64.b64decode(self.rfile.readline().strip())
                        self.send("334 UGFzc3dvcmQ6")
                        p = base64.b64decode(self.rfile.readline().strip())
                        outer.auths.append([b"", u, p])
                        self.send("235 ok")
                    elif up.startswith("MAIL FROM:"):
                        mail = {"from": cmd[10:].strip(), "to": [], "data": b""}
                        self.send("250 ok")
                    elif up.startswith("RCPT TO:"):
                        mail["to"].append(cmd[8:].strip())
                        self.send("250 ok")
                    elif up == "DATA":
                        self.send("354 go ahead")
                        data = b""
                        while True:
                            l = self.rfile.readline()
                            if not l or l == b".\r\n":
                                break
                            data += l
                        mail["data"] = data
                        outer.messages.append(mail)
                        self.send("250 queued")
                    elif up == "QUIT":
                        self.send("221 bye")
                        return
                    else:
                        self.send("250 ok")

        class S(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = S(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# ---- fixtures ----

@pytest.fixture
def peers():
    r, s = Receiver(), SMTPServer()
    yield r, s
    r.close()
    s.close()


@pytest.fixture
def asrv(tmp_path):
    s = Server(tmp_path, env={"RM_TEST_OFFLINE_AFTER": "3", "RM_TEST_ALERTS_TICK_SECONDS": "1",
                              "RM_TEST_NOTIFY_BACKOFF_MS": "200"})
    s.start()
    yield s
    rc = s.stop()
    assert rc in (None, 0), s.log_text()[-4000:]
    log = s.log_text()
    assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log
    for secret in SECRETS + [ADMIN_PASSWORD]:
        assert secret not in log, "a channel secret is in the server log"


@pytest.fixture
def adm(asrv):
    tok = asrv.bootstrap_token()
    r = asrv.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 201, r.text
    c = Client(asrv)
    assert c.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    return c


def make_user(adm, server, role):
    pw = f"{role} password long enough"
    r = adm.post("/api/v1/users", json={"username": role, "password": pw, "role": role})
    assert r.status_code == 201, r.text
    c = Client(server)
    assert c.login(role, pw).status_code == 200
    return c


def add_channels(adm, receiver, smtp):
    out = {}
    r = adm.post("/api/v1/notification-channels",
                 json={"name": "hook", "kind": "webhook", "url": receiver.url + "/hook", "token": WEBHOOK_TOKEN,
                       "header_name": "X-Hook-Secret", "header_value": HEADER_SECRET})
    assert r.status_code == 201, r.text
    out["webhook"] = r.json()
    r = adm.post("/api/v1/notification-channels",
                 json={"name": "phone", "kind": "ntfy", "server": receiver.url, "topic": "rm-alerts",
                       "token": NTFY_TOKEN})
    assert r.status_code == 201, r.text
    out["ntfy"] = r.json()
    r = adm.post("/api/v1/notification-channels",
                 json={"name": "mail", "kind": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none",
                       "username": "mailer", "password": SMTP_PASSWORD, "from": "rm@example.org",
                       "to": ["ops@example.org", "oncall@example.org"]})
    assert r.status_code == 201, r.text
    out["smtp"] = r.json()
    return out


def audit_text(server):
    text = ""
    for p in sorted(glob.glob(os.path.join(server.data_dir, "audit", "*.jsonl"))):
        with open(p, encoding="utf-8") as f:
            text += f.read()
    return text


def alerts(adm, **params):
    r = adm.get("/api/v1/alerts", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def webhook_events(receiver):
    return [json.loads(x["body"]) for x in receiver.on("/hook")]


# ---- channel API ----

def test_channel_api_secrets_roles_and_validation(asrv, adm, peers):
    receiver, smtp = peers
    chans = add_channels(adm, receiver, smtp)
    wh = chans["webhook"]
    assert wh["token_set"] is True and wh["header_value_set"] is True
    assert wh["url"] == receiver.url + "/hook" and wh["header_name"] == "X-Hook-Secret"
    assert chans["smtp"]["password_set"] is True and chans["smtp"]["to"] == ["ops@example.org", "oncall@example.org"]
    assert chans["ntfy"]["token_set"] is True
    listing = adm.get("/api/v1/notification-channels")
    assert listing.status_code == 200
    assert len(listing.json()["items"]) == 3
    for s in SECRETS:
        assert s not in listing.text

    # PATCH: a secret cleared with null, others kept; kind cannot change
    r = adm.patch(f"/api/v1/notification-channels/{wh['id']}", json={"token": None, "alert_kinds": ["backup_failed"],
                                                                     "on_resolve": False})
    assert r.status_code == 200, r.text
    assert r.json()["token_set"] is False and r.json()["header_value_set"] is True
    assert r.json()["alert_kinds"] == ["backup_failed"] and r.json()["on_resolve"] is False
    r = adm.patch(f"/api/v1/notification-channels/{wh['id']}", json={"kind": "ntfy"})
    assert r.status_code == 400 and "kind" in r.json()["error"]["message"]
    r = adm.patch(f"/api/v1/notification-channels/{wh['id']}", json={})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = adm.patch(f"/api/v1/notification-channels/{wh['id']}", json={"url": None})
    assert r.status_code == 400 and "'url'" in r.json()["error"]["message"]
    assert adm.patch("/api/v1/notification-channels/9999", json={"name": "x"}).status_code == 404

    bad = [
        ({"name": "x", "kind": "sms", "url": "http://a"}, "kind"),
        ({"name": "x", "kind": "webhook", "url": "ftp://example.org/"}, "url"),
        ({"name": "x", "kind": "webhook", "url": "http://user:pw@example.org/"}, "url"),
        ({"name": "x", "kind": "webhook"}, "url"),
        ({"name": "x", "kind": "webhook", "url": "http://a.example", "header_value": "v"}, "header_name"),
        ({"name": "x", "kind": "webhook", "url": "http://a.example", "header_name": "Bad Header", "header_value": "v"},
         "header_name"),
        ({"name": "x", "kind": "webhook", "url": "http://a.example", "surprise": 1}, "surprise"),
        ({"name": "x", "kind": "ntfy", "server": "http://a.example", "topic": "no/slash"}, "topic"),
        ({"name": "x", "kind": "smtp", "host": "mail", "port": 0, "security": "none", "from": "a@b", "to": ["c@d"]},
         "port"),
        ({"name": "x", "kind": "smtp", "host": "mail", "port": 25, "security": "maybe", "from": "a@b", "to": ["c@d"]},
         "security"),
        ({"name": "x", "kind": "smtp", "host": "mail", "port": 25, "security": "none", "from": "a@b"}, "to"),
        ({"name": "x", "kind": "smtp", "host": "mail", "port": 25, "security": "none", "from": "a@b",
          "to": ["not-an-address"]}, "to"),
        ({"name": "x", "kind": "webhook", "url": "http://a.example", "alert_kinds": ["sunspots"]}, "alert_kinds"),
        ({"name": "", "kind": "webhook", "url": "http://a.example"}, "name"),
    ]
    for body, field in bad:
        r = adm.post("/api/v1/notification-channels", json=body)
        assert r.status_code == 400, (body, r.text)
        assert error_code(r) == "invalid_field"
        assert f"'{field}'" in r.json()["error"]["message"], (body, r.text)
    r = adm.post("/api/v1/notification-channels", json={"name": "hook", "kind": "webhook", "url": "http://a.example"})
    assert r.status_code == 409

    # roles: viewers and operators read alerts but never reach channels
    for role in ("viewer", "operator"):
        c = make_user(adm, asrv, role)
        assert c.get("/api/v1/alerts").status_code == 200
        for method, path, body in [("GET", "/api/v1/notification-channels", None),
                                   ("POST", "/api/v1/notification-channels",
                                    {"name": "y", "kind": "webhook", "url": "http://a.example"}),
                                   ("PATCH", f"/api/v1/notification-channels/{wh['id']}", {"name": "z"}),
                                   ("DELETE", f"/api/v1/notification-channels/{wh['id']}", None),
                                   ("POST", f"/api/v1/notification-channels/{wh['id']}/test", None),
                                   ("GET", f"/api/v1/notification-channels/{wh['id']}/deliveries", None)]:
            r = c.req(method, path, json=body) if body is not None else c.req(method, path)
            assert r.status_code == 403, (role, method, path, r.text)
            assert error_code(r) == "forbidden"

    r = adm.delete(f"/api/v1/notification-channels/{wh['id']}")
    assert r.status_code == 204
    assert adm.delete(f"/api/v1/notification-channels/{wh['id']}").status_code == 404
    assert adm.get(f"/api/v1/notification-channels/{wh['id']}/deliveries").status_code == 404

    audit = audit_text(asrv)
    for action in ("notification_channel.create", "notification_channel.update", "notification_channel.delete"):
        assert f'"action":"{action}"' in audit
    for s in SECRETS:
        assert s not in audit, "a channel secret is in the audit trail"
    assert "alert_kinds" in audit  # fields changed are named, values are not
    assert receiver.url not in audit  # URLs may carry credentials of their own


def test_test_button_delivery_log_and_retries(asrv, adm, peers):
    receiver, smtp = peers
    chans = add_channels(adm, receiver, smtp)
    for kind, ch in chans.items():
        r = adm.post(f"/api/v1/notification-channels/{ch['id']}/test")
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True, (kind, r.json())
    hook = receiver.on("/hook")
    assert len(hook) == 1
    assert json.loads(hook[0]["body"])["event"] == "test"
    assert hook[0]["headers"]["Authorization"] == "Bearer " + WEBHOOK_TOKEN
    assert hook[0]["headers"]["X-Hook-Secret"] == HEADER_SECRET
    ntfy = receiver.on("/rm-alerts")
    assert len(ntfy) == 1 and ntfy[0]["headers"]["Authorization"] == "Bearer " + NTFY_TOKEN
    assert "test" in ntfy[0]["headers"]["Title"]
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["to"] == ["<ops@example.org>", "<oncall@example.org>"]
    assert b"Subject: [restic-manager] test notification" in smtp.messages[0]["data"]
    assert [a[1:] for a in smtp.auths] == [[b"mailer", SMTP_PASSWORD.encode()]]

    log = adm.get(f"/api/v1/notification-channels/{chans['webhook']['id']}/deliveries")
    assert log.status_code == 200, log.text
    items = log.json()["items"]
    assert len(items) == 1 and items[0]["event"] == "test" and items[0]["outcome"] == "ok"
    assert items[0]["status_code"] == 200 and items[0]["error"] is None and items[0]["at"]

    # a target that refuses: the test answers the failure with its reason
    r = adm.post("/api/v1/notification-channels",
                 json={"name": "failing", "kind": "webhook", "url": receiver.url + "/fail"})
    failing = r.json()["id"]
    r = adm.post(f"/api/v1/notification-channels/{failing}/test")
    assert r.status_code == 200 and r.json()["ok"] is False
    assert r.json()["status_code"] == 500 and "500" in r.json()["error"]
    r = adm.post("/api/v1/notification-channels",
                 json={"name": "closed", "kind": "webhook", "url": "http://127.0.0.1:1/x"})
    r = adm.post(f"/api/v1/notification-channels/{r.json()['id']}/test")
    assert r.json()["ok"] is False and r.json()["error"], r.json()
    audit = audit_text(asrv)
    assert audit.count('"action":"notification_channel.test"') == 5
    for s in SECRETS:
        assert s not in audit


@pytest.mark.skipif(RESTIC is None, reason="restic is not installed")
def test_failed_backup_alert_delivered_resolved_and_offline(asrv, adm, peers, tmp_path):
    receiver, smtp = peers
    chans = add_channels(adm, receiver, smtp)
    # a second webhook whose target always fails: retried, then logged as failed
    r = adm.post("/api/v1/notification-channels",
                 json={"name": "broken", "kind": "webhook", "url": receiver.url + "/fail-always",
                       "alert_kinds": ["backup_failed"], "on_resolve": False})
    broken = r.json()["id"]
    src = tmp_path / "src"
    src.mkdir()
    (src / "file.txt").write_text("hello")
    r = adm.post("/api/v1/enrollment-tokens",
                 json={"hostname": "alerthost", "repository": {"url": str(tmp_path / "repo"), "password": PASSWORD},
                       "paths": [str(src)]})
    assert r.status_code == 201, r.text
    agent = Agent(tmp_path, asrv, name="agent")
    try:
        agent.enroll(r.json()["token"])
        agent.run()
        hid = agent.host_id

        def run(body, expect):
            r = adm.post(f"/api/v1/hosts/{hid}/jobs", json=body)
            assert r.status_code == 201, r.text
            jid = r.json()["id"]
            j = wait_for(lambda: (lambda j: j if j["status"] in FINAL else None)(adm.get(f"/api/v1/jobs/{jid}").json()),
                         timeout=TIMEOUT, interval=0.1, what="job end")
            assert j["status"] == expect, j
            return jid

        run({"kind": "init"}, "succeeded")
        bad_job = run({"kind": "backup", "paths": [str(tmp_path / "does-not-exist")]}, "failed")

        open_ = wait_for(lambda: alerts(adm, status="open"), timeout=10, what="an open alert")
        assert len(open_) == 1
        a = open_[0]
        assert a["kind"] == "backup_failed" and a["host_id"] == hid and a["host"] == "alerthost"
        assert a["status"] == "open" and a["job_id"] == bad_job and a["resolved_at"] is None
        assert "fail" in a["message"] or "exist" in a["message"]
        hosts = adm.get("/api/v1/hosts").json()["items"]
        assert hosts[0]["open_alerts"] == 1
        assert adm.get(f"/api/v1/hosts/{hid}").json()["open_alerts"] == 1
        assert adm.get("/api/v1/fleet/summary").json()["open_alerts"] == 1
        assert alerts(adm, host=hid)[0]["id"] == a["id"]
        assert alerts(adm, host=hid + 1000) == []

        # delivered to all three channels
        wait_for(lambda: webhook_events(receiver), timeout=20, what="webhook delivery")
        ev = webhook_events(receiver)[0]
        assert ev["event"] == "alert.opened" and ev["alert"]["id"] == a["id"]
        assert ev["alert"]["kind"] == "backup_failed" and ev["alert"]["host"] == "alerthost"
        wait_for(lambda: receiver.on("/rm-alerts"), timeout=20, what="ntfy delivery")
        n = receiver.on("/rm-alerts")[0]
        assert "alerthost" in n["headers"]["Title"] and n["headers"]["Priority"] == "high"
        wait_for(lambda: smtp.messages, timeout=20, what="mail delivery")
        assert b"alerthost: backup failed" in smtp.messages[0]["data"]

        # a second failure touches the same alert: no new alert, no new notification
        run({"kind": "backup", "paths": [str(tmp_path / "does-not-exist")]}, "failed")
        wait_for(lambda: alerts(adm, status="open")[0]["occurrences"] == 2, timeout=10, what="second occurrence")
        assert len(alerts(adm, status="open")) == 1

        # the failing channel: three attempts, then one failed row
        def broken_rows():
            rows = adm.get(f"/api/v1/notification-channels/{broken}/deliveries").json()["items"]
            return rows or None
        rows = wait_for(broken_rows, timeout=30, what="failed delivery row")
        assert rows[0]["outcome"] == "failed" and rows[0]["attempts"] == 3 and rows[0]["status_code"] == 500
        assert len(receiver.on("/fail-always")) == 3

        # success resolves it, and the resolution is delivered
        run({"kind": "backup", "paths": [str(src)]}, "succeeded")
        wait_for(lambda: not alerts(adm, status="open"), timeout=10, what="alert resolved")
        res = alerts(adm, status="resolved")
        assert len(res) == 1 and res[0]["id"] == a["id"] and res[0]["resolved_at"]
        wait_for(lambda: len(webhook_events(receiver)) == 2, timeout=20, what="resolve webhook")
        assert webhook_events(receiver)[1]["event"] == "alert.resolved"
        wait_for(lambda: len(smtp.messages) == 2, timeout=20, what="resolve mail")
        assert b"resolved: alerthost" in smtp.messages[1]["data"]
        wait_for(lambda: len(receiver.on("/rm-alerts")) == 2, timeout=20, what="resolve ntfy")
        assert adm.get("/api/v1/fleet/summary").json()["open_alerts"] == 0
        log = adm.get(f"/api/v1/notification-channels/{chans['smtp']['id']}/deliveries").json()["items"]
        assert [x["event"] for x in log] == ["resolved", "opened"] and all(x["outcome"] == "ok" for x in log)

        # the agent goes away: offline alert; it comes back: resolved
        agent.stop()
        off = wait_for(lambda: [x for x in alerts(adm, status="open") if x["kind"] == "agent_offline"],
                       timeout=30, what="offline alert")
        assert off[0]["host_id"] == hid
        wait_for(lambda: any(e["alert"]["kind"] == "agent_offline" for e in webhook_events(receiver)
                             if e.get("alert")), timeout=20, what="offline webhook")
        agent.run()
        wait_for(lambda: not alerts(adm, status="open"), timeout=30, what="offline alert resolved")
    finally:
        rc = agent.stop()
        assert rc in (None, 0), agent.log_text()[-3000:]

    # secrets nowhere: API answers, server log (fixture), audit trail, delivery log
    texts = [adm.get("/api/v1/notification-channels").text, adm.get("/api/v1/alerts").text, audit_text(asrv)]
    for ch in list(chans.values()) + [{"id": broken}]:
        texts.append(adm.get(f"/api/v1/notification-channels/{ch['id']}/deliveries").text)
    for t in texts:
        for s in SECRETS:
            assert s not in t
    # the database (and its WAL) holds them only sealed
    for name in ("restic-manager.db", "restic-manager.db-wal"):
        path = os.path.join(asrv.data_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                db = f.read()
            for s in SECRETS:
                assert s.encode() not in db, name


# ---- the other rules, driven through the agent protocol ----

def test_maintenance_stale_lock_and_overdue_rules(tmp_path, peers):
    """maintenance_failed (a check job fails, then succeeds), stale_lock (a
    repo.stats with a dead holder on this machine, then without), and
    backup_overdue from the timer: the overdue clock is moved 2 h forward
    (RM_TEST_ALERTS_CLOCK_OFFSET), so an hourly schedule made now is overdue
    (1.5 h) while a host without an enabled schedule never is."""
    from test_agent_protocol import FakeAgent, enrol_token
    receiver, smtp = peers
    srv = Server(tmp_path, env={"RM_TEST_ALERTS_TICK_SECONDS": "1", "RM_TEST_ALERTS_CLOCK_OFFSET": "7200"})
    srv.start()
    try:
        tok = srv.bootstrap_token()
        assert srv.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER,
                                                   "password": ADMIN_PASSWORD}).status_code == 201
        adm = Client(srv)
        adm.login(ADMIN_USER, ADMIN_PASSWORD)
        r = adm.post("/api/v1/notification-channels",
                     json={"name": "hook", "kind": "webhook", "url": receiver.url + "/hook",
                           "alert_kinds": ["stale_lock", "backup_overdue"]})
        assert r.status_code == 201, r.text
        for body in ({"name": "phone", "kind": "ntfy", "server": receiver.url, "topic": "locks",
                      "alert_kinds": ["stale_lock"], "on_resolve": False},
                     {"name": "mail", "kind": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none",
                      "from": "rm@example.org", "to": ["ops@example.org"], "alert_kinds": ["stale_lock"],
                      "on_resolve": False}):
            assert adm.post("/api/v1/notification-channels", json=body).status_code == 201
        a = FakeAgent(srv)
        assert a.enroll(enrol_token(adm, "lockhost")["token"]).status_code == 201
        assert a.hello().status_code == 200
        hid = a.host_id
        # a display name beyond ASCII reaches headers RFC 2047-encoded (ntfy Title, mail Subject)
        assert adm.patch(f"/api/v1/hosts/{hid}", json={"name": "Büro ☃"}).status_code == 200

        def finish(kind, status, **args):
            r = adm.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": kind, **args})
            assert r.status_code == 201, r.text
            jid = r.json()["id"]
            r = a.send([{"type": "job.started", "job_id": jid, "kind": kind, "actor": "user"},
                        {"type": "job.finished", "job_id": jid, "status": status,
                         "exit_code": 1 if status == "failed" else 0,
                         **({"error": "Fatal: pack 1234 is damaged"} if status == "failed" else {})}])
            assert r.status_code == 200, r.text
            return jid

        def open_kinds():
            return sorted(x["kind"] for x in alerts(adm, status="open"))

        # maintenance failed → open (subject: the job kind); a success of that kind resolves it
        jid = finish("check", "failed")
        m = wait_for(lambda: [x for x in alerts(adm, status="open") if x["kind"] == "maintenance_failed"],
                     timeout=10, what="maintenance alert")[0]
        assert m["subject"] == "check" and m["job_id"] == jid and "damaged" in m["message"]
        finish("prune", "succeeded")  # another kind does not resolve it
        assert "maintenance_failed" in open_kinds()
        finish("check", "succeeded")
        wait_for(lambda: "maintenance_failed" not in open_kinds(), timeout=10, what="maintenance resolved")
        # forget: one alert per group
        finish("forget", "failed", group="default", keep_last=3)
        f = wait_for(lambda: [x for x in alerts(adm, status="open") if x["kind"] == "maintenance_failed"],
                     timeout=10, what="forget alert")[0]
        assert f["subject"] == "forget:default", f
        finish("forget", "succeeded", group="default", keep_last=3)
        wait_for(lambda: "maintenance_failed" not in open_kinds(), timeout=10, what="forget resolved")
        assert not [x for x in webhook_events(receiver) if x["alert"] and x["alert"]["kind"] == "maintenance_failed"], \
            "the channel's filter lets maintenance alerts through"

        # no enabled schedule: never overdue, whatever the clock says
        assert "backup_overdue" not in open_kinds()

        # stale lock: a dead holder on this machine opens it, a live one does not, none resolves it
        live = {"pid": 9, "host": "box", "user": "root", "exclusive": False, "this_host": True, "pid_alive": True}
        assert a.send([{"type": "repo.stats", "locks": [live]}]).status_code == 200
        dead = {"pid": 4242, "host": "box", "user": "root", "time": "2026-11-25T19:00:00", "exclusive": True,
                "this_host": True, "pid_alive": False}
        assert "stale_lock" not in open_kinds()
        assert a.send([{"type": "repo.stats", "locks": [live, dead]}]).status_code == 200
        s = wait_for(lambda: [x for x in alerts(adm, status="open") if x["kind"] == "stale_lock"], timeout=10,
                     what="stale lock alert")[0]
        assert "4242" in s["message"] and s["host"] == "Büro ☃"
        title = wait_for(lambda: receiver.on("/locks"), timeout=20, what="ntfy lock delivery")[0]["headers"]["Title"]
        assert title.startswith("=?UTF-8?B?"), title
        assert str(make_header(decode_header(title))) == "[restic-manager] Büro ☃: stale repository lock"
        mail = wait_for(lambda: smtp.messages, timeout=20, what="lock mail")[0]["data"]
        msg = email.message_from_bytes(mail)
        assert str(make_header(decode_header(msg["Subject"]))) == "[restic-manager] Büro ☃: stale repository lock"
        assert "Büro ☃" in msg.get_payload(decode=True).decode("utf-8")
        wait_for(lambda: any(e["alert"] and e["alert"]["kind"] == "stale_lock" for e in webhook_events(receiver)),
                 timeout=20, what="stale lock webhook")
        assert a.send([{"type": "repo.stats", "total_size": 5}]).status_code == 200  # says nothing about locks
        assert "stale_lock" in open_kinds()
        assert a.send([{"type": "repo.stats", "locks": []}]).status_code == 200
        wait_for(lambda: "stale_lock" not in open_kinds(), timeout=10, what="stale lock resolved")

        # an hourly schedule: overdue from the timer; disabling the schedule resolves it
        r = adm.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "0 * * * *", "groups": ["default"],
                                                              "enabled": True})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        o = wait_for(lambda: [x for x in alerts(adm, status="open") if x["kind"] == "backup_overdue"],
                     timeout=20, what="overdue alert")[0]
        assert "60 min" in o["message"] and "no successful backup yet" in o["message"], o
        wait_for(lambda: any(e["alert"] and e["alert"]["kind"] == "backup_overdue" for e in webhook_events(receiver)),
                 timeout=20, what="overdue webhook")
        r = adm.patch(f"/api/v1/hosts/{hid}/schedules/{sid}", json={"enabled": False})
        assert r.status_code == 200, r.text
        wait_for(lambda: "backup_overdue" not in open_kinds(), timeout=20, what="overdue resolved")
        wait_for(lambda: len(webhook_events(receiver)) == 4, timeout=20, what="overdue resolve webhook")
        events = [(e["event"], e["alert"]["kind"]) for e in webhook_events(receiver) if e["alert"]]
        assert events == [("alert.opened", "stale_lock"), ("alert.resolved", "stale_lock"),
                          ("alert.opened", "backup_overdue"), ("alert.resolved", "backup_overdue")], events
        # history: every alert of the host, newest first, paged
        page1 = adm.get("/api/v1/alerts", params={"host": hid, "limit": 2}).json()
        assert len(page1["items"]) == 2 and page1["next"]
        page2 = adm.get("/api/v1/alerts", params={"host": hid, "limit": 2, "cursor": page1["next"]}).json()
        ids = [x["id"] for x in page1["items"] + page2["items"]]
        while page2["next"]:
            page2 = adm.get("/api/v1/alerts", params={"host": hid, "limit": 2, "cursor": page2["next"]}).json()
            ids += [x["id"] for x in page2["items"]]
        assert ids == sorted(ids, reverse=True) and len(ids) == 4
        assert adm.get("/api/v1/alerts", params={"status": "nope"}).status_code == 400
    finally:
        rc = srv.stop()
        assert rc in (None, 0), srv.log_text()[-4000:]
