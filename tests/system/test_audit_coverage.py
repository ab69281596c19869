"""Every state-changing operator request becomes an audit record (issue 2):
driven from the route table.  Each write row of src/server/routes.c under
/api/v1/ is called once, successfully, by the admin (cookie session + CSRF);
right after the reply the audit trail must hold at least one new record by
that admin, naming the client address, with outcome "ok" (records are written
before the reply goes out, see audit.h).  A write route this test does not know
yet fails the coverage test with its name, so a new endpoint cannot slip by
without its audit record being checked.
"""
import glob
import json
import os

import requests

from conftest import ADMIN_USER
from test_route_roles import ROWS

PW = "audit coverage pw 1"
PUBLIC_WRITES = {("POST", "/api/v1/bootstrap"), ("POST", "/api/v1/auth/login")}  # audited by test_auth/test_audit


def records(server):
    out = []
    for p in sorted(glob.glob(os.path.join(server.data_dir, "audit", "*.jsonl"))):
        with open(p, "rb") as f:
            out += [json.loads(ln) for ln in f.read().split(b"\n") if ln.strip()]
    return out


def write_rows():
    return {(m, p) for m, p, a, _ in ROWS if m != "GET" and p.startswith("/api/v1/") and (m, p) not in PUBLIC_WRITES}


# (method, pattern) → step(ctx) returning (path, json body, expected status).  Steps run in this order
# and share ctx (ids made by earlier steps).
def _token_create(ctx):
    return "/api/v1/tokens", {"name": "audit-cov"}, 201


def _token_delete(ctx):
    return f"/api/v1/tokens/{ctx['token_id']}", None, 204


def _user_create(ctx):
    return "/api/v1/users", {"username": "auditee", "password": PW, "role": "viewer"}, 201


def _user_update(ctx):
    return f"/api/v1/users/{ctx['user_id']}", {"role": "operator"}, 200


def _user_delete(ctx):
    return f"/api/v1/users/{ctx['user_id']}", None, 204


def _enrol(ctx):
    return "/api/v1/enrollment-tokens", {"hostname": "audit-host", "repository": {"url": "/tmp/audit-repo"},
                                         "paths": ["/srv"]}, 201


def _host_update(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}", {"tags": ["audit"]}, 200


def _source_create(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/sources", {"name": "docs", "paths": ["/srv/docs"]}, 201


def _source_put(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/sources/{ctx['source_id']}", {"name": "docs",
                                                                          "paths": ["/srv/docs", "/etc"]}, 200


def _source_patch(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/sources/{ctx['source_id']}", {"paths": ["/etc"]}, 200


def _schedule_create(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/schedules", {"cron": "0 3 * * *", "groups": ["docs"], "enabled": True}, 201


def _schedule_put(ctx):
    return (f"/api/v1/hosts/{ctx['host_id']}/schedules/{ctx['schedule_id']}",
            {"cron": "0 4 * * *", "groups": ["docs"], "enabled": True}, 200)


def _schedule_patch(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/schedules/{ctx['schedule_id']}", {"enabled": False}, 200


def _schedule_delete(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/schedules/{ctx['schedule_id']}", None, 204


def _source_delete(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/sources/{ctx['source_id']}", None, 204


def _maintenance(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/maintenance", {"prune": {"enabled": False}}, 200


def _job_create(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}/jobs", {"kind": "init"}, 201


def _job_cancel(ctx):
    return f"/api/v1/jobs/{ctx['job_id']}/cancel", None, 200


def _password(ctx):
    return "/api/v1/auth/password", {"current_password": ctx["admin_password"], "new_password": PW}, 204


def _host_delete(ctx):
    return f"/api/v1/hosts/{ctx['host_id']}", None, 204


def _channel_create(ctx):
    # a target that refuses (the test step below is audited either way)
    return "/api/v1/notification-channels", {"name": "audit", "kind": "webhook", "url": "http://127.0.0.1:1/x",
                                             "token": "audit-webhook-token-1"}, 201


def _channel_update(ctx):
    return f"/api/v1/notification-channels/{ctx['channel_id']}", {"enabled": False}, 200


def _channel_test(ctx):
    return f"/api/v1/notification-channels/{ctx['channel_id']}/test", None, 200


def _channel_delete(ctx):
    return f"/api/v1/notification-channels/{ctx['channel_id']}", None, 204


def _logout(ctx):
    return "/api/v1/auth/logout", None, 204


STEPS = [
    (("POST", "/api/v1/tokens"), _token_create, "token_id"),
    (("DELETE", "/api/v1/tokens/{}"), _token_delete, None),
    (("POST", "/api/v1/users"), _user_create, "user_id"),
    (("PATCH", "/api/v1/users/{}"), _user_update, None),
    (("DELETE", "/api/v1/users/{}"), _user_delete, None),
    (("POST", "/api/v1/enrollment-tokens"), _enrol, None),
    (("PATCH", "/api/v1/hosts/{}"), _host_update, None),
    (("POST", "/api/v1/hosts/{}/sources"), _source_create, "source_id"),
    (("PUT", "/api/v1/hosts/{}/sources/{}"), _source_put, None),
    (("PATCH", "/api/v1/hosts/{}/sources/{}"), _source_patch, None),
    (("POST", "/api/v1/hosts/{}/schedules"), _schedule_create, "schedule_id"),
    (("PUT", "/api/v1/hosts/{}/schedules/{}"), _schedule_put, None),
    (("PATCH", "/api/v1/hosts/{}/schedules/{}"), _schedule_patch, None),
    (("DELETE", "/api/v1/hosts/{}/schedules/{}"), _schedule_delete, None),
    (("DELETE", "/api/v1/hosts/{}/sources/{}"), _source_delete, None),
    (("PUT", "/api/v1/hosts/{}/maintenance"), _maintenance, None),
    (("POST", "/api/v1/hosts/{}/jobs"), _job_create, "job_id"),
    (("POST", "/api/v1/jobs/{}/cancel"), _job_cancel, None),
    (("PUT", "/api/v1/auth/password"), _password, None),
    (("POST", "/api/v1/notification-channels"), _channel_create, "channel_id"),
    (("PATCH", "/api/v1/notification-channels/{}"), _channel_update, None),
    (("POST", "/api/v1/notification-channels/{}/test"), _channel_test, None),
    (("DELETE", "/api/v1/notification-channels/{}"), _channel_delete, None),
    (("DELETE", "/api/v1/hosts/{}"), _host_delete, None),
    (("POST", "/api/v1/auth/logout"), _logout, None),
]


def test_every_write_route_has_an_audit_step():
    known = {k for k, _, _ in STEPS}
    missing = sorted(write_rows() - known)
    assert not missing, ("write routes without an audit check — add a step to STEPS in "
                         f"tests/system/test_audit_coverage.py: {missing}")


def test_every_write_route_is_audited(server, admin):
    from conftest import ADMIN_PASSWORD
    ctx = {"admin_password": ADMIN_PASSWORD}
    present = write_rows()
    failures = []
    for key, step, save in STEPS:
        if key not in present:
            continue  # the route is gone from the table: nothing to audit
        path, body, want = step(ctx)
        before = len(records(server))
        r = admin.req(key[0], path, json=body) if body is not None else admin.req(key[0], path)
        assert r.status_code == want, (key, r.status_code, r.text)
        if save:
            ctx[save] = r.json()["id"]
        if key == ("POST", "/api/v1/enrollment-tokens"):
            e = requests.post(server.url + "/api/agent/v1/enroll", headers={"X-RM-Protocol": "1"}, timeout=30,
                              json={"token": r.json()["token"], "protocol_version": 1, "hostname": "audit-host",
                                    "os": "linux", "arch": "amd64", "agent_version": "test",
                                    "restic_version": "0.14.0"})
            assert e.status_code == 201, e.text
            ctx["host_id"] = e.json()["host_id"]
            before_enrol = before
        new = records(server)[before:]
        mine = [x for x in new if x.get("actor") == ADMIN_USER and x.get("outcome") == "ok"]
        if not mine:
            failures.append(f"{key[0]} {key[1]}: no audit record by {ADMIN_USER} (new: {new})")
            continue
        for x in mine:
            if not x.get("action") or not x.get("client") or not x.get("time"):
                failures.append(f"{key[0]} {key[1]}: incomplete record {x}")
    assert not failures, "\n".join(failures)
    # the agent's enrolment is a security event too, recorded with the agent as actor
    assert any(x["action"] == "host.enroll" for x in records(server)[before_enrol:])
