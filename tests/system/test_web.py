"""The embedded web UI: index and versioned assets, caching, security headers."""
import http.client
import json
import re

import pytest

CSP_PARTS = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
             "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]


def check_security_headers(r):
    csp = r.headers.get("Content-Security-Policy", "")
    for part in CSP_PARTS:
        assert part in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers.get("X-Frame-Options") == "DENY"
    assert r.headers.get("Referrer-Policy") == "no-referrer"
    assert r.headers.get("X-Content-Type-Options") == "nosniff"


def asset_urls(html):
    return re.findall(r'(?:src|href)="(/assets/[0-9a-f]{16}/[A-Za-z0-9._-]+)"', html)


def test_index_served_with_revalidation_and_csp(server):
    r = server.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-cache"
    check_security_headers(r)
    etag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    assert "__ASSET_VERSION__" not in r.text
    # No inline script or handler in the shell: the CSP must hold.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)
    assert not re.search(r"\son[a-z]+=", r.text)
    r2 = server.get("/", headers={"If-None-Match": etag})
    assert r2.status_code == 304
    assert r2.content == b""
    assert r2.headers["ETag"] == etag
    r3 = server.get("/", headers={"If-None-Match": 'W/"0000000000000000", ' + etag})
    assert r3.status_code == 304
    assert server.get("/", headers={"If-None-Match": '"0000000000000000"'}).status_code == 200


def test_bootstrap_page_is_the_ui_shell(server):
    r = server.get("/bootstrap?token=abc")
    assert r.status_code == 200
    assert r.text == server.get("/").text
    check_security_headers(r)


def test_versioned_assets_are_immutable(server):
    html = server.get("/").text
    urls = asset_urls(html)
    assert any(u.endswith("/app.js") for u in urls)
    assert any(u.endswith("/app.css") for u in urls)
    versions = {u.split("/")[2] for u in urls}
    assert len(versions) == 1
    for u in urls:
        r = server.get(u)
        assert r.status_code == 200, u
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        check_security_headers(r)
        if u.endswith(".js"):
            assert r.headers["Content-Type"].startswith("text/javascript")
        if u.endswith(".css"):
            assert r.headers["Content-Type"].startswith("text/css")
        assert server.get(u, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    # A module imported relatively from app.js resolves under the same version.
    v = versions.pop()
    assert server.get(f"/assets/{v}/api.js").status_code == 200
    # A stale version still gets the file, but not under a long cache.
    r = server.get("/assets/0123456789abcdef/app.js")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-cache"


def test_head_matches_get(server):
    g = server.get("/")
    h = server.req("HEAD", "/")
    assert h.status_code == 200
    assert h.content == b""
    assert int(h.headers["Content-Length"]) == len(g.content)
    assert h.headers["ETag"] == g.headers["ETag"]


def raw_get(server, target):
    """GET with `target` as the literal request target: requests/urllib3 would
    normalise dot segments ("/ui/../x" -> "/x") before sending, http.client
    sends the bytes as given.  Returns (status, headers, body)."""
    host, port = server.addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", target)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path,status,code", [
    ("/assets/x/nope.js", 404, "not_found"),
    ("/assets/x/..%2fweb.c", 400, "invalid_parameter"),
    ("/assets/x/%2e%2e", 400, "invalid_parameter"),
    ("/assets/x/index.html%00", 400, "invalid_parameter"),
    ("/assets/x", 404, "not_found"),
    ("/assets//app.js", 404, "not_found"),
    ("/index.htm", 404, "not_found"),
    ("/assets/x/app.js/extra", 404, "not_found"),
    # Dot segments sent raw: the server must not resolve them into another
    # route (here an authenticated API one) nor serve the UI; it rejects them.
    ("/ui/../api/v1/hosts", 400, "invalid_parameter"),
    ("/ui/./hosts", 400, "invalid_parameter"),
    ("/api/v1/../v1/hosts", 400, "invalid_parameter"),
    ("/assets/%2E%2E/%2e%2E/etc/passwd", 400, "invalid_parameter"),
])
def test_unknown_and_tricky_paths(server, path, status, code):
    got, headers, body = raw_get(server, path)
    assert got == status, (path, got, body)
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == code, body


def test_ui_routes_do_not_shadow_api(server):
    assert server.get("/healthz").json() == {"status": "ok"}
    assert server.get("/api/version").status_code == 200
    assert server.post("/").status_code == 405
