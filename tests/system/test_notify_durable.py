"""The notification queue is durable (migration 7, notify.c): a delivery that
could not be made before the server stopped — SIGTERM or SIGKILL — is resumed
at the next start and arrives exactly once.  The webhook target is a real
HTTP receiver (port 0) that is down while the alert opens: it answers 500,
or nothing listens on its port (connection refused).  The pending row holds
no secret; the delivery log records the outcome with the attempts of both
runs."""
import json
import os
import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, Client, Server, wait_for
from test_agent_protocol import FakeAgent, enrol_token

TOKEN = "durable-bearer-Q8wz3Lm5Kp"


class Receiver:
    """Records every POST; answers 500 while `up` is false."""

    def __init__(self, port=0):
        self.requests = []
        self.up = False
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    up = outer.up
                    if up:
                        outer.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(200 if up else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def got(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return port


def db_rows(server, sql):
    con = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("stop,down", [("term", "http500"), ("kill", "refused"), ("term", "refused")])
def test_pending_notification_survives_restart(tmp_path, stop, down):
    # a long backoff: the first attempt fails, the retry would wait 10 min
    srv = Server(tmp_path, env={"RM_TEST_NOTIFY_BACKOFF_MS": "600000"})
    receiver = Receiver() if down == "http500" else None
    port = receiver.port if receiver else free_port()
    srv.start()
    try:
        tok = srv.bootstrap_token()
        assert srv.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER,
                                                   "password": ADMIN_PASSWORD}).status_code == 201
        adm = Client(srv)
        assert adm.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
        r = adm.post("/api/v1/notification-channels",
                     json={"name": "hook", "kind": "webhook", "url": f"http://127.0.0.1:{port}/hook",
                           "token": TOKEN})
        assert r.status_code == 201, r.text
        chan = r.json()["id"]
        a = FakeAgent(srv)
        assert a.enroll(enrol_token(adm, "durhost")["token"]).status_code == 201
        assert a.hello().status_code == 200
        dead = {"pid": 4242, "host": "box", "user": "root", "time": "2026-11-25T19:00:00", "exclusive": True,
                "this_host": True, "pid_alive": False}
        assert a.send([{"type": "repo.stats", "locks": [dead]}]).status_code == 200
        al = wait_for(lambda: adm.get("/api/v1/alerts", params={"status": "open"}).json()["items"], timeout=10,
                      what="the stale_lock alert")
        assert al[0]["kind"] == "stale_lock"
        # the first attempt failed; the row waits for its retry
        rows = wait_for(lambda: db_rows(srv, "SELECT channel_id, alert_id, event, attempts FROM "
                                              "notification_pending WHERE attempts >= 1"),
                        timeout=20, what="a failed first attempt")
        assert rows == [(chan, al[0]["id"], "opened", 1)]
        assert adm.get(f"/api/v1/notification-channels/{chan}/deliveries").json()["items"] == []
        if stop == "kill":
            srv.kill9()
        else:
            assert srv.stop() in (None, 0)
        for name in ("restic-manager.db", "restic-manager.db-wal"):
            p = os.path.join(srv.data_dir, name)
            if os.path.exists(p):
                assert TOKEN.encode() not in open(p, "rb").read(), name
        # the receiver is up now
        if receiver is None:
            receiver = Receiver(port)
        receiver.up = True
        srv.start()
        got = wait_for(receiver.got, timeout=20, what="the resumed delivery")
        assert len(got) == 1
        ev = json.loads(got[0]["body"])
        assert ev["event"] == "alert.opened" and ev["alert"]["id"] == al[0]["id"]
        assert got[0]["headers"]["Authorization"] == "Bearer " + TOKEN
        assert "resuming 1 pending notification(s)" in srv.log_text()
        adm = Client(srv)
        assert adm.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
        d = wait_for(lambda: adm.get(f"/api/v1/notification-channels/{chan}/deliveries").json()["items"],
                     timeout=10, what="the delivery log")
        assert len(d) == 1 and d[0]["outcome"] == "ok" and d[0]["attempts"] == 2, d
        assert db_rows(srv, "SELECT count(*) FROM notification_pending") == [(0,)]
        # a further restart sends nothing again
        assert srv.stop() in (None, 0)
        srv.start()
        assert adm.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
        assert srv.log_text().count("pending notification(s) from the last run") == 1  # resumed at start only
        assert len(receiver.got()) == 1
        log = srv.log_text()
        assert TOKEN not in log
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log
    finally:
        rc = srv.stop()
        if receiver:
            receiver.close()
    assert rc in (None, 0)


def test_queue_bounded(tmp_path):
    """Beyond NOTIFY_QUEUE_MAX pending rows a delivery is recorded "dropped"
    and logged; the table does not grow."""
    srv = Server(tmp_path, env={"RM_TEST_NOTIFY_BACKOFF_MS": "600000"})
    port = free_port()
    srv.start()
    try:
        tok = srv.bootstrap_token()
        assert srv.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER,
                                                   "password": ADMIN_PASSWORD}).status_code == 201
        adm = Client(srv)
        assert adm.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
        r = adm.post("/api/v1/notification-channels",
                     json={"name": "hook", "kind": "webhook", "url": f"http://127.0.0.1:{port}/hook"})
        chan = r.json()["id"]
        a = FakeAgent(srv)
        assert a.enroll(enrol_token(adm, "bhost")["token"]).status_code == 201
        assert a.hello().status_code == 200
        dead = {"pid": 4242, "host": "box", "user": "root", "time": "2026-11-25T19:00:00", "exclusive": True,
                "this_host": True, "pid_alive": False}
        assert a.send([{"type": "repo.stats", "locks": [dead]}]).status_code == 200
        wait_for(lambda: db_rows(srv, "SELECT count(*) FROM notification_pending")[0][0] == 1, what="one row")
        aid = db_rows(srv, "SELECT alert_id FROM notification_pending")[0][0]
        # fill the table up to the cap behind the server's back
        con = sqlite3.connect(os.path.join(srv.data_dir, "restic-manager.db"))
        con.executemany("INSERT INTO notification_pending (channel_id, alert_id, event, attempts, created_at) "
                        "VALUES (?, ?, 'opened', 1, 0)", [(chan, aid)] * 999)
        con.commit()
        con.close()
        assert a.send([{"type": "repo.stats", "locks": []}]).status_code == 200  # resolves: one more delivery
        d = wait_for(lambda: adm.get(f"/api/v1/notification-channels/{chan}/deliveries").json()["items"],
                     timeout=10, what="the dropped record")
        assert d[0]["outcome"] == "dropped" and d[0]["event"] == "resolved", d
        assert db_rows(srv, "SELECT count(*) FROM notification_pending") == [(1000,)]
        assert "the notification queue is full" in srv.log_text()
    finally:
        rc = srv.stop()
    assert rc in (None, 0)
