"""Roles from one table: every row of src/server/routes.c, called by every kind
of caller, gets exactly the answer its access level says (DESIGN.md §6).

The route table is read from the source (the rows are one per line), so a new
endpoint is covered the moment its row is added.  Callers: anonymous, a viewer,
an operator and an admin — each once with a session cookie (and its CSRF token)
and once with a personal API token — and an agent with its agent token.

  access of the row   denied (401/403 from the auth layer)         allowed
  public              nobody                                       everyone
  agent               anonymous, users (cookie or API token)       the agent
  viewer/operator/    anonymous and the agent: 401;                the roles at
  admin               users below the level: 403 "forbidden"       or above it

"Allowed" means the request got past authentication (the handler then answers
400/404/409 for the placeholder ids and empty bodies used here).  "Denied by
auth" is recognised by its status and error code; every non-public row is
denied to an anonymous caller, which proves the test really reached that row.
A second test checks the table itself against the policy of §6.
"""
import os
import re

import pytest
import requests

from conftest import ROOT, Client, error_code

PW = "route roles password 1"
ROUTES_C = os.path.join(ROOT, "src", "server", "routes.c")
ROW = re.compile(r'^\s*\{(GET|POST|PUT|PATCH|DELETE),\s*"([^"]+)",\s*(ACCESS_[A-Z]+),\s*(\w+)')
LEVEL = {"ACCESS_VIEWER": 1, "ACCESS_OPERATOR": 2, "ACCESS_ADMIN": 3}
ROLE_LEVEL = {"viewer": 1, "operator": 2, "admin": 3}
AUTH_CODES = {"unauthenticated", "invalid_token", "session_expired", "account_disabled", "forbidden",
              "csrf_failed"}


def route_rows():
    rows = []
    with open(ROUTES_C) as f:
        for line in f:
            m = ROW.match(line)
            if m:
                rows.append(m.groups())
    return rows


ROWS = route_rows()


def test_route_table_is_parsed():
    assert len(ROWS) >= 40, "routes.c rows not recognised: update ROW in this test"
    assert len({(m, p) for m, p, _, _ in ROWS}) == len(ROWS), "duplicate (method, pattern) rows"
    assert {a for _, _, a, _ in ROWS} <= {"ACCESS_PUBLIC", "ACCESS_AGENT"} | set(LEVEL)


def test_table_follows_the_role_policy():
    """DESIGN.md §6: viewer reads; operator runs jobs, restores, edits sources and
    schedules, enrols hosts; admin manages users, notification channels, deletes
    hosts; the public set is fixed.  Self-service writes (own password, own API
    tokens, logout) are open to every logged-in user."""
    public = {(m, p) for m, p, a, _ in ROWS if a == "ACCESS_PUBLIC"}
    assert public <= {
        ("GET", "/healthz"), ("GET", "/api/version"), ("GET", "/agent/binary"), ("GET", "/install/{}"),
        ("GET", "/api/v1/bootstrap"), ("POST", "/api/v1/bootstrap"), ("POST", "/api/v1/auth/login"),
        ("POST", "/api/agent/v1/enroll"), ("GET", "/"), ("GET", "/bootstrap"), ("GET", "/assets/{}/{}"),
        ("GET", "/metrics"),  # guarded by its own token/CIDR check (RM_METRICS_*), off by default
    }, "a new public route: DESIGN.md §6 lists the public ones"
    self_service = {("POST", "/api/v1/auth/logout"), ("PUT", "/api/v1/auth/password"),
                    ("POST", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{}")}
    for m, p, a, fn in ROWS:
        if not p.startswith("/api/v1/") or a in ("ACCESS_PUBLIC", "ACCESS_AGENT"):
            continue
        if m != "GET" and (m, p) not in self_service:
            assert LEVEL[a] >= 2, f"{m} {p} ({fn}) changes state but is open to viewers"
        if p.startswith(("/api/v1/users", "/api/v1/audit")) or (m == "DELETE" and re.fullmatch(r"/api/v1/hosts/\{\}", p)):
            assert a == "ACCESS_ADMIN", f"{m} {p} must be admin-only"
        if p.startswith(("/api/v1/notifications", "/api/v1/channels")) and m != "GET":
            assert a == "ACCESS_ADMIN", f"{m} {p}: notification channels are admin-only"
        if p.startswith("/api/v1/notification-channels"):  # reads too: targets and delivery log
            assert a == "ACCESS_ADMIN", f"{m} {p}: notification channels are admin-only"
    for m, p, a, fn in ROWS:
        if p.startswith("/api/agent/v1/") and p != "/api/agent/v1/enroll":
            assert a == "ACCESS_AGENT", f"{m} {p} must take the agent token"
        if a == "ACCESS_AGENT":
            assert p.startswith("/api/agent/v1/"), f"{m} {p}: agent tokens only reach the agent endpoint"


def concrete(pattern):
    """A request path for a pattern: placeholder ids nobody has."""
    path = pattern.replace("{}", "999999")
    if path == "/api/agent/v1/commands":
        path += "?after=0&wait=0"
    if path == "/agent/binary":
        path += "?os=linux&arch=amd64"
    return path


class Caller:
    def __init__(self, name, server, role=None, headers=None, client=None):
        self.name = name
        self.role = role
        self.server = server
        self.headers = dict(headers or {})
        self.client = client  # a logged-in Client (session) or None

    def call(self, method, path):
        h = {"X-RM-Protocol": "1", "Content-Type": "application/json"}
        h.update(self.headers)
        kw = dict(headers=h, data="{}" if method != "GET" else None, timeout=30, stream=True,
                  allow_redirects=False)
        if self.client:
            r = self.client.req(method, path, **kw)
        else:
            r = requests.request(method, self.server.url + path, **kw)
        try:
            status = r.status_code
            code = None
            if status in (401, 403) and r.headers.get("Content-Type", "").startswith("application/json"):
                code = error_code(r)
            return status, code
        finally:
            r.close()  # SSE streams: the status line and headers are all we need


def expectation(access, caller):
    """'allow', 401 or 403."""
    if access == "ACCESS_PUBLIC":
        return "allow"
    if access == "ACCESS_AGENT":
        return "allow" if caller.name == "agent" else 401
    if caller.role is None:  # anonymous or the agent
        return 401
    return "allow" if ROLE_LEVEL[caller.role] >= LEVEL[access] else 403


@pytest.fixture
def callers(server, admin):
    out = [Caller("anonymous", server)]
    for role in ("viewer", "operator", "admin"):
        name = f"{role}1"
        r = admin.post("/api/v1/users", json={"username": name, "password": PW, "role": role})
        assert r.status_code == 201, r.text
        c = Client(server)
        assert c.login(name, PW).status_code == 200
        out.append(Caller(f"{role} (session)", server, role=role, client=c))
        tok = c.post("/api/v1/tokens", json={"name": "roles"})
        assert tok.status_code == 201, tok.text
        out.append(Caller(f"{role} (API token)", server, role=role,
                          headers={"Authorization": "Bearer " + tok.json()["token"]}))
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "roles-host", "repository": {"url": "/tmp/roles-repo"}, "paths": ["/srv"]})
    assert r.status_code == 201, r.text
    e = requests.post(server.url + "/api/agent/v1/enroll", headers={"X-RM-Protocol": "1"}, timeout=30,
                      json={"token": r.json()["token"], "protocol_version": 1, "hostname": "roles-host",
                            "os": "linux", "arch": "amd64", "agent_version": "test", "restic_version": "0.14.0"})
    assert e.status_code == 201, e.text
    out.append(Caller("agent", server, headers={"Authorization": "Bearer " + e.json()["agent_token"]}))
    return out


def test_every_route_against_every_caller(server, callers):
    # Logout ends a cookie session: those rows go last.
    rows = sorted(ROWS, key=lambda r: r[1] == "/api/v1/auth/logout")
    failures = []
    checked = 0
    for method, pattern, access, fn in rows:
        path = concrete(pattern)
        public_answers = set()
        for c in callers:
            want = expectation(access, c)
            status, code = c.call(method, path)
            denied = status in (401, 403) and code in AUTH_CODES
            checked += 1
            if access == "ACCESS_PUBLIC":
                # No credential changes a public answer (the enrolment handler's own
                # 401 for a missing one-time token is the same for everybody).
                public_answers.add((status, code))
                if code in ("unauthenticated", "session_expired", "forbidden", "csrf_failed"):
                    failures.append(f"{method} {pattern} (public) as {c.name}: denied {status} {code}")
            elif want == "allow":
                if denied:
                    failures.append(f"{method} {pattern} ({access}) as {c.name}: denied {status} {code}")
            elif status != want or code not in AUTH_CODES or (want == 403 and code != "forbidden"):
                failures.append(f"{method} {pattern} ({access}) as {c.name}: got {status} {code}, want {want}")
    assert not failures, f"{len(failures)} of {checked} calls wrong:\n" + "\n".join(failures)
    # the server survived all of it
    assert server.get("/healthz").status_code == 200
