"""Users, sessions, API tokens, roles, CSRF, bootstrap and login rate limiting
(issue 2, "Users, sessions, tokens, audit"; DESIGN.md §6, §8)."""
import concurrent.futures
import glob
import os
import re
import sqlite3
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, ADMIN_USER, Client, Server, error_code, wait_for

PW = "another long passphrase"


def make_user(admin, name, role, password=PW):
    r = admin.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 201, r.text
    return r.json()


def login(server, name, password=PW):
    c = Client(server)
    r = c.login(name, password)
    assert r.status_code == 200, r.text
    return c


def set_cookie_header(resp):
    raw = resp.raw.headers.getlist("Set-Cookie") if hasattr(resp.raw.headers, "getlist") else []
    return raw or [resp.headers.get("Set-Cookie", "")]


def audit_text(server):
    out = ""
    for p in sorted(glob.glob(os.path.join(server.data_dir, "audit", "*"))):
        with open(p, encoding="utf-8", errors="replace") as f:
            out += f.read()
    return out


# ---- bootstrap ----

def test_bootstrap_flow(server):
    tok = server.bootstrap_token()
    assert server.get("/api/v1/bootstrap").json() == {"bootstrapped": False}
    # Only the bootstrap line carries the token.
    assert server.log_text().count(tok) == 1
    assert re.search(r"bootstrap: open http://[^ ]+/bootstrap\?token=" + re.escape(tok), server.log_text())

    r = server.post("/api/v1/bootstrap", json={"token": "x" * 43, "username": "root", "password": ADMIN_PASSWORD})
    assert r.status_code in (401, 403) and error_code(r) == "invalid_token"
    r = server.post("/api/v1/bootstrap", json={"token": tok, "username": "root", "password": "short"})
    assert r.status_code == 400
    r = server.post("/api/v1/bootstrap", json={"token": tok, "username": "bad name!", "password": ADMIN_PASSWORD})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = server.post("/api/v1/bootstrap", json={"token": tok, "username": "root", "password": "p" * 1025})
    assert r.status_code == 400
    r = server.post("/api/v1/bootstrap", json={"token": tok})
    assert r.status_code == 400

    r = server.post("/api/v1/bootstrap", json={"token": tok, "username": "root", "password": ADMIN_PASSWORD})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["username"] == "root" and r.json()["user"]["role"] == "admin"
    # Token burnt; any further bootstrap is 409, whatever the token.
    r = server.post("/api/v1/bootstrap", json={"token": tok, "username": "root2", "password": ADMIN_PASSWORD})
    assert r.status_code == 409 and error_code(r) == "already_bootstrapped"
    assert server.get("/api/v1/bootstrap").json() == {"bootstrapped": True}
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    assert db.execute("SELECT count(*) FROM settings WHERE key = 'bootstrap_token_hash'").fetchone()[0] == 0
    db.close()

    # After a restart with a user present no bootstrap URL is printed.
    before = server.log_text().count("/bootstrap?token=")
    server.restart()
    assert server.get("/healthz").status_code == 200
    assert server.log_text().count("/bootstrap?token=") == before
    assert login(server, "root", ADMIN_PASSWORD).get("/api/v1/auth/me").json()["user"]["role"] == "admin"


def test_bootstrap_token_renewed_each_start(server):
    old = server.bootstrap_token()
    server.restart()
    toks = re.findall(r"/bootstrap\?token=([A-Za-z0-9_-]+)", server.log_text())
    assert len(toks) == 2 and toks[1] != old
    r = server.post("/api/v1/bootstrap", json={"token": old, "username": "root", "password": ADMIN_PASSWORD})
    assert r.status_code in (401, 403)
    r = server.post("/api/v1/bootstrap", json={"token": toks[1], "username": "root", "password": ADMIN_PASSWORD})
    assert r.status_code == 201


# ---- login / logout / sessions ----

def test_login_logout_me(server, admin):
    me = admin.get("/api/v1/auth/me")
    assert me.status_code == 200
    body = me.json()
    assert body["user"]["username"] == ADMIN_USER and body["user"]["role"] == "admin"
    assert body["csrf_token"] == admin.csrf and body["via"] == "session"

    c = Client(server)
    r1 = c.login(ADMIN_USER, "wrong password here")
    r2 = c.login("nosuchuser", "wrong password here")
    assert r1.status_code == r2.status_code == 401
    assert error_code(r1) == error_code(r2) == "invalid_credentials"
    assert r1.json()["error"]["message"] == r2.json()["error"]["message"]
    assert c.get("/api/v1/auth/me").status_code == 401

    r = admin.post("/api/v1/auth/logout")
    assert r.status_code == 204
    assert "Max-Age=0" in r.headers.get("Set-Cookie", "")
    r = admin.get("/api/v1/auth/me")
    assert r.status_code == 401 and error_code(r) in ("unauthenticated", "session_expired")


def test_login_response_and_cookie_attributes(server, admin):
    c = Client(server)
    r = c.login(ADMIN_USER, ADMIN_PASSWORD)
    body = r.json()
    assert set(body) >= {"csrf_token", "user"}
    assert set(body["user"]) >= {"id", "username", "role"}
    sc = r.headers["Set-Cookie"]
    assert sc.startswith("rm_session=")
    attrs = [a.strip().lower() for a in sc.split(";")]
    assert "httponly" in attrs and "samesite=lax" in attrs and "path=/" in attrs
    assert "secure" not in attrs  # conftest runs with RM_COOKIE_SECURE=false
    value = sc.split(";")[0].split("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)


def test_cookie_secure_by_config(tmp_path):
    s = Server(tmp_path, env={"RM_COOKIE_SECURE": "true"})
    s.start()
    try:
        tok = s.bootstrap_token()
        assert s.post("/api/v1/bootstrap",
                      json={"token": tok, "username": "root", "password": ADMIN_PASSWORD}).status_code == 201
        r = requests.post(s.url + "/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD},
                          timeout=30)
        assert r.status_code == 200
        attrs = [a.strip().lower() for a in r.headers["Set-Cookie"].split(";")]
        assert "secure" in attrs and "httponly" in attrs and "samesite=lax" in attrs
    finally:
        assert s.stop() == 0


def test_unauthenticated_and_bad_credentials(server, admin):
    for path in ("/api/v1/auth/me", "/api/v1/users", "/api/v1/tokens"):
        r = server.get(path)
        assert r.status_code == 401, path
        error_code(r)
    r = requests.get(server.url + "/api/v1/auth/me", headers={"Authorization": "Bearer " + "A" * 43}, timeout=30)
    assert r.status_code == 401 and error_code(r) == "invalid_token"
    r = requests.get(server.url + "/api/v1/auth/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}, timeout=30)
    assert r.status_code == 401
    r = requests.get(server.url + "/api/v1/auth/me", cookies={"rm_session": "B" * 43}, timeout=30)
    assert r.status_code == 401
    r = requests.get(server.url + "/api/v1/auth/me", cookies={"rm_session": "../../etc"}, timeout=30)
    assert r.status_code == 401


def test_session_expiry(server, admin):
    assert admin.get("/api/v1/auth/me").status_code == 200
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    row = db.execute("SELECT expires_at - created_at FROM sessions").fetchone()
    assert row[0] == 12 * 3600
    db.execute("UPDATE sessions SET expires_at = 1")
    db.commit()
    db.close()
    r = admin.get("/api/v1/auth/me")
    assert r.status_code == 401 and error_code(r) == "session_expired"


def test_sessions_per_user_capped(server, admin):
    clients = [admin]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        clients += list(ex.map(lambda _: login(server, ADMIN_USER, ADMIN_PASSWORD), range(50)))
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 50
    db.close()
    assert admin.get("/api/v1/auth/me").status_code == 401  # the oldest ended
    assert clients[-1].get("/api/v1/auth/me").status_code == 200


# ---- CSRF ----

def test_csrf_required_for_cookie_writes(server, admin):
    r = admin.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": ""})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    r = admin.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "A" * 43})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    # Plain session without the header at all.
    raw = requests.Session()
    raw.cookies.update(admin.s.cookies)
    r = raw.post(server.url + "/api/v1/tokens", json={"name": "x"}, timeout=30)
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    r = raw.delete(server.url + "/api/v1/users/1", timeout=30)
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    # GET needs none; with the header a write works.
    assert raw.get(server.url + "/api/v1/tokens", timeout=30).status_code == 200
    r = admin.post("/api/v1/tokens", json={"name": "ok"})
    assert r.status_code == 201
    # Bearer needs no CSRF.
    bearer = Client(server, token=r.json()["token"])
    r = bearer.post("/api/v1/tokens", json={"name": "from-script"})
    assert r.status_code == 201, r.text
    assert '"auth.csrf"' in audit_text(server)


# ---- rate limiting ----

def fail_login(server, headers=None, user=ADMIN_USER):
    return requests.post(server.url + "/api/v1/auth/login", json={"username": user, "password": "definitely wrong"},
                         headers=headers or {}, timeout=30)


def test_login_rate_limited(server, admin):
    for _ in range(10):
        assert fail_login(server).status_code == 401
    r = fail_login(server)
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 300
    # Even the right password is refused while limited.
    r = Client(server).login(ADMIN_USER, ADMIN_PASSWORD)
    assert r.status_code == 429
    # Already logged-in sessions are unaffected.
    assert admin.get("/api/v1/auth/me").status_code == 200
    # X-Forwarded-For from an untrusted peer is ignored.
    assert fail_login(server, {"X-Forwarded-For": "203.0.113.9"}).status_code == 429
    assert '"rate_limited"' in audit_text(server)


def test_parallel_guesses_cannot_overshoot_limit(server, admin):
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        codes = list(ex.map(lambda _: fail_login(server).status_code, range(24)))
    assert codes.count(401) <= 10 and codes.count(401) >= 1
    assert codes.count(429) == 24 - codes.count(401)


def test_password_hashing_does_not_block_the_loop(server, admin):
    """argon2id runs on the worker pool: /healthz answers while logins are hashing."""
    def do_login(_):
        r = requests.post(server.url + "/api/v1/auth/login",
                          json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}, timeout=60)
        return r.status_code, time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        futs = [ex.submit(do_login, i) for i in range(8)]
        wait_for(lambda: any(f.running() for f in futs), what="logins started")
        assert server.get("/healthz").status_code == 200
        health_done = time.monotonic()
        results = [f.result() for f in futs]
    assert all(code == 200 for code, _ in results)
    assert health_done < max(t for _, t in results)


def test_bootstrap_token_guessing_rate_limited(server):
    tok = server.bootstrap_token()
    body = {"username": "root", "password": ADMIN_PASSWORD}
    for _ in range(10):
        assert server.post("/api/v1/bootstrap", json=dict(body, token="g" * 43)).status_code == 403
    r = server.post("/api/v1/bootstrap", json=dict(body, token="g" * 43))
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert server.post("/api/v1/bootstrap", json=dict(body, token=tok)).status_code == 429


def test_forwarded_for_only_from_trusted_proxy(tmp_path):
    s = Server(tmp_path, env={"RM_TRUSTED_PROXY": "127.0.0.1/32"})
    s.start()
    try:
        tok = s.bootstrap_token()
        assert s.post("/api/v1/bootstrap",
                      json={"token": tok, "username": ADMIN_USER, "password": ADMIN_PASSWORD}).status_code == 201
        a = {"X-Forwarded-For": "198.51.100.7"}
        for _ in range(10):
            assert fail_login(s, a).status_code == 401
        assert fail_login(s, a).status_code == 429
        # Another client behind the same proxy is not limited …
        assert fail_login(s, {"X-Forwarded-For": "10.1.2.3, 198.51.100.8"}).status_code == 401
        # … and the right-most address counts, not a spoofed left one.
        assert fail_login(s, {"X-Forwarded-For": "198.51.100.8, 198.51.100.7"}).status_code == 429
        r = requests.post(s.url + "/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                          headers={"X-Forwarded-For": "192.0.2.1"}, timeout=30)
        assert r.status_code == 200
        assert "secure" not in [a.strip().lower() for a in r.headers["Set-Cookie"].split(";")]
        # RM_COOKIE_SECURE=false here, but the trusted proxy saw https: Secure anyway.
        r = requests.post(s.url + "/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                          headers={"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"}, timeout=30)
        assert r.status_code == 200
        assert "secure" in [a.strip().lower() for a in r.headers["Set-Cookie"].split(";")]
    finally:
        assert s.stop() == 0


# ---- API tokens ----

def test_api_tokens_lifecycle(server, admin):
    r = admin.post("/api/v1/tokens", json={"name": "backup script"})
    assert r.status_code == 201
    t = r.json()
    assert set(t) >= {"id", "name", "token", "created_at"} and t["name"] == "backup script"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", t["token"])
    assert admin.post("/api/v1/tokens", json={"name": ""}).status_code == 400
    assert admin.post("/api/v1/tokens", json={"name": "n" * 65}).status_code == 400
    assert admin.post("/api/v1/tokens", json={}).status_code == 400

    lst = admin.get("/api/v1/tokens").json()
    assert set(lst) == {"items", "next"} and lst["next"] is None
    assert [i["id"] for i in lst["items"]] == [t["id"]]
    assert "token" not in lst["items"][0] and t["token"] not in str(lst)
    assert lst["items"][0]["last_used_at"] is None

    bearer = Client(server, token=t["token"])
    me = bearer.get("/api/v1/auth/me").json()
    assert me["user"]["username"] == ADMIN_USER and me["via"] == "token" and "csrf_token" not in me
    assert admin.get("/api/v1/tokens").json()["items"][0]["last_used_at"] is not None
    # Only the hash is stored.
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    stored = db.execute("SELECT token_hash FROM api_tokens").fetchall()
    db.close()
    assert all(t["token"] not in row[0] for row in stored)

    assert admin.delete(f"/api/v1/tokens/{t['id']}").status_code == 204
    r = bearer.get("/api/v1/auth/me")
    assert r.status_code == 401 and error_code(r) == "invalid_token"
    assert admin.delete(f"/api/v1/tokens/{t['id']}").status_code == 404
    assert admin.get("/api/v1/tokens").json()["items"] == []


def test_token_revocation_ownership(server, admin):
    make_user(admin, "alice", "viewer")
    make_user(admin, "bob", "operator")
    alice, bob = login(server, "alice"), login(server, "bob")
    ta = alice.post("/api/v1/tokens", json={"name": "a"}).json()
    tb = bob.post("/api/v1/tokens", json={"name": "b"}).json()
    # Not visible to and not revocable by another non-admin.
    assert [i["id"] for i in bob.get("/api/v1/tokens").json()["items"]] == [tb["id"]]
    assert bob.delete(f"/api/v1/tokens/{ta['id']}").status_code == 404
    assert bob.get("/api/v1/tokens?all=true").status_code == 403
    # An admin sees and revokes anyone's.
    all_ids = [i["id"] for i in admin.get("/api/v1/tokens?all=true").json()["items"]]
    assert ta["id"] in all_ids and tb["id"] in all_ids
    assert admin.delete(f"/api/v1/tokens/{ta['id']}").status_code == 204
    assert Client(server, token=ta["token"]).get("/api/v1/auth/me").status_code == 401
    assert Client(server, token=tb["token"]).get("/api/v1/auth/me").status_code == 200


# ---- roles ----

def test_role_matrix(server, admin):
    make_user(admin, "viewer1", "viewer")
    make_user(admin, "operator1", "operator")
    clients = {"viewer": login(server, "viewer1"), "operator": login(server, "operator1"), "admin": admin}
    anon = Client(server)
    # viewer route
    for role, c in clients.items():
        assert c.get("/api/v1/tokens").status_code == 200, role
    assert anon.get("/api/v1/tokens").status_code == 401
    # admin route
    assert clients["admin"].get("/api/v1/users").status_code == 200
    for role in ("viewer", "operator"):
        r = clients[role].get("/api/v1/users")
        assert r.status_code == 403 and error_code(r) == "forbidden", role
        r = clients[role].post("/api/v1/users", json={"username": "x", "password": PW, "role": "admin"})
        assert r.status_code == 403, role
    assert anon.get("/api/v1/users").status_code == 401
    # Bearer tokens act with their owner's role.
    vt = clients["viewer"].post("/api/v1/tokens", json={"name": "v"}).json()["token"]
    assert Client(server, token=vt).get("/api/v1/users").status_code == 403
    # operator route (needs the hosts resource; skipped until it exists)
    body = {"hostname": "h1", "repository": {"url": "/tmp/repo"}, "paths": ["/etc"]}
    r = clients["viewer"].post("/api/v1/enrollment-tokens", json=body)
    if r.status_code in (404, 405):
        pytest.skip("no operator route registered yet")
    assert r.status_code == 403 and error_code(r) == "forbidden"
    assert clients["operator"].post("/api/v1/enrollment-tokens", json=body).status_code not in (401, 403)
    assert '"auth.forbidden"' in audit_text(server)


def test_role_change_takes_effect_immediately(server, admin):
    u = make_user(admin, "carol", "viewer")
    carol = login(server, "carol")
    assert carol.get("/api/v1/users").status_code == 403
    assert admin.patch(f"/api/v1/users/{u['id']}", json={"role": "admin"}).json()["role"] == "admin"
    assert carol.get("/api/v1/users").status_code == 200


# ---- user administration ----

def test_users_crud_and_paging(server, admin):
    for i in range(3):
        make_user(admin, f"user{i}", "viewer")
    r = admin.post("/api/v1/users", json={"username": "USER0", "password": PW, "role": "viewer"})
    assert r.status_code == 409 and error_code(r) == "username_taken"
    assert admin.post("/api/v1/users", json={"username": "u", "password": "short", "role": "viewer"}).status_code == 400
    assert admin.post("/api/v1/users", json={"username": "u", "password": PW, "role": "root"}).status_code == 400
    assert admin.post("/api/v1/users", json={"username": "a/b", "password": PW, "role": "viewer"}).status_code == 400
    assert admin.post("/api/v1/users", json={"username": "a" * 65, "password": PW,
                                             "role": "viewer"}).status_code == 400
    assert admin.post("/api/v1/users", json={"username": "a" * 64, "password": PW,
                                             "role": "viewer"}).status_code == 201

    page = admin.get("/api/v1/users?limit=2").json()
    assert len(page["items"]) == 2 and page["next"] is not None
    names = [u["username"] for u in page["items"]]
    while page["next"]:
        page = admin.get(f"/api/v1/users?limit=2&cursor={page['next']}").json()
        names += [u["username"] for u in page["items"]]
    assert names == [ADMIN_USER, "user0", "user1", "user2", "a" * 64]
    assert all("password" not in k for u in admin.get("/api/v1/users").json()["items"] for k in u)

    uid = admin.get("/api/v1/users").json()["items"][1]["id"]
    r = admin.patch(f"/api/v1/users/{uid}", json={"role": "operator"})
    assert r.status_code == 200 and r.json()["role"] == "operator"
    assert admin.patch(f"/api/v1/users/{uid}", json={"role": "king"}).status_code == 400
    assert admin.patch(f"/api/v1/users/{uid}", json={"disabled": "yes"}).status_code == 400
    assert admin.patch("/api/v1/users/9999", json={"role": "viewer"}).status_code == 404
    # Admin password reset: the user's sessions end, the new password works.
    c = login(server, "user0")
    assert admin.patch(f"/api/v1/users/{uid}", json={"password": "reset password 123"}).status_code == 200
    assert c.get("/api/v1/auth/me").status_code == 401
    login(server, "user0", "reset password 123")

    assert admin.delete(f"/api/v1/users/{uid}").status_code == 204
    assert admin.delete(f"/api/v1/users/{uid}").status_code == 404
    assert Client(server).login("user0", "reset password 123").status_code == 401


def test_last_admin_protected(server, admin):
    me = admin.get("/api/v1/auth/me").json()["user"]["id"]
    for body in ({"role": "operator"}, {"disabled": True}):
        r = admin.patch(f"/api/v1/users/{me}", json=body)
        assert r.status_code == 409 and error_code(r) == "last_admin"
    r = admin.delete(f"/api/v1/users/{me}")
    assert r.status_code == 409 and error_code(r) == "last_admin"
    # A disabled admin does not count.
    other = make_user(admin, "admin2", "admin")
    assert admin.patch(f"/api/v1/users/{other['id']}", json={"disabled": True}).status_code == 200
    assert admin.patch(f"/api/v1/users/{me}", json={"role": "viewer"}).status_code == 409
    # With a second enabled admin the first may step down.
    assert admin.patch(f"/api/v1/users/{other['id']}", json={"disabled": False}).status_code == 200
    assert admin.patch(f"/api/v1/users/{me}", json={"role": "viewer"}).status_code == 200
    assert admin.get("/api/v1/users").status_code == 403
    a2 = login(server, "admin2")
    assert a2.delete(f"/api/v1/users/{other['id']}").status_code == 409  # now the last one itself
    assert a2.get("/api/v1/auth/me").status_code == 200


def test_disabled_user_rejected(server, admin):
    u = make_user(admin, "dave", "operator")
    dave = login(server, "dave")
    tok = dave.post("/api/v1/tokens", json={"name": "d"}).json()["token"]
    bearer = Client(server, token=tok)
    assert bearer.get("/api/v1/auth/me").status_code == 200
    assert admin.patch(f"/api/v1/users/{u['id']}", json={"disabled": True}).json()["disabled"] is True
    assert dave.get("/api/v1/auth/me").status_code == 401
    assert bearer.get("/api/v1/auth/me").status_code == 401
    r = Client(server).login("dave", PW)
    assert r.status_code in (401, 403) and "rm_session" not in r.headers.get("Set-Cookie", "")
    # Re-enabled: can log in again; the old token stays revoked.
    assert admin.patch(f"/api/v1/users/{u['id']}", json={"disabled": False}).status_code == 200
    login(server, "dave")
    assert bearer.get("/api/v1/auth/me").status_code == 401


def test_password_change(server, admin):
    make_user(admin, "erin", "viewer")
    a, b = login(server, "erin"), login(server, "erin")
    r = a.put("/api/v1/auth/password", json={"current_password": "wrong password!", "new_password": "n" * 12})
    assert r.status_code == 403 and error_code(r) == "invalid_credentials"
    r = a.put("/api/v1/auth/password", json={"current_password": PW, "new_password": "short"})
    assert r.status_code == 400
    r = a.put("/api/v1/auth/password", json={"current_password": PW, "new_password": "my new passphrase"})
    assert r.status_code == 204
    assert a.get("/api/v1/auth/me").status_code == 200  # this session stays
    assert b.get("/api/v1/auth/me").status_code == 401  # the other one ends
    assert Client(server).login("erin", PW).status_code == 401
    login(server, "erin", "my new passphrase")


def test_request_limits_on_auth_routes(server, admin):
    r = server.post("/api/v1/auth/login", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = server.post("/api/v1/auth/login", json={"username": "x", "password": "p" * 20000})
    assert r.status_code == 413
    r = server.post("/api/v1/auth/login", json={"username": "x", "password": "p" * 1025})
    assert r.status_code == 400
    r = server.post("/api/v1/auth/login", json=["x"])
    assert r.status_code == 400


# ---- no secrets in logs ----

def test_no_secret_in_any_log_line(server):
    boot = server.bootstrap_token()
    assert server.post("/api/v1/bootstrap",
                       json={"token": boot, "username": ADMIN_USER, "password": ADMIN_PASSWORD}).status_code == 201
    admin = login(server, ADMIN_USER, ADMIN_PASSWORD)
    secrets = [ADMIN_PASSWORD, admin.csrf, admin.s.cookies.get("rm_session")]
    make_user(admin, "frank", "operator", "franks secret pw 1")
    secrets.append("franks secret pw 1")
    frank = login(server, "frank", "franks secret pw 1")
    secrets += [frank.csrf, frank.s.cookies.get("rm_session")]
    tok = frank.post("/api/v1/tokens", json={"name": "t"}).json()["token"]
    secrets.append(tok)
    Client(server, token=tok).get("/api/v1/auth/me")
    frank.put("/api/v1/auth/password", json={"current_password": "franks secret pw 1",
                                            "new_password": "franks newer pw 2"})
    secrets.append("franks newer pw 2")
    Client(server).login("frank", "a wrong guess 123")
    secrets.append("a wrong guess 123")
    admin.patch("/api/v1/users/2", json={"password": "admin set pw 3"})
    secrets.append("admin set pw 3")
    server.stop()
    server.start()
    log = server.log_text()
    trail = audit_text(server)
    for s in secrets:
        assert s and s not in log, "secret in server log"
        assert s not in trail, "secret in audit trail"
    # The bootstrap token appears exactly once: in the bootstrap line.
    assert log.count(boot) == 1 and boot not in trail
