"""Agent and script distribution (DESIGN.md §7): /agent/binary and /install/<name>.

The seed's four lookup cases for both kinds of asset — (a) data-dir hit,
(b) bundled fallback hit, (c) data-dir hit shadows the fallback, (d) neither
→ 404 with the right code — plus every 400 path trick, HEAD, ETag/304 and
byte equality.  Path tricks are sent with http.client so nothing on the
client side normalises them away.
"""
import http.client
import os

import pytest

from conftest import error_code

BINARIES = [
    ("linux", "amd64", "restic-manager-agent-linux-amd64"),
    ("linux", "arm64", "restic-manager-agent-linux-arm64"),
    ("windows", "amd64", "restic-manager-agent-windows-amd64.exe"),
]
INSTALL = [
    ("install.sh", "text/x-shellscript"),
    ("install.ps1", "text/plain"),
    ("restic-manager-agent.service", "text/plain"),
]


def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def raw(server, method, target, headers=None):
    """One request with the target sent byte for byte."""
    host, port = server.addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def dirs(server):
    return os.path.join(server.data_dir), str(server.tmp / "bundled")


@pytest.mark.parametrize("os_, arch, fname", BINARIES)
def test_binary_lookup_four_cases(server, os_, arch, fname):
    data_dir, bundled = dirs(server)
    url = f"/agent/binary?os={os_}&arch={arch}"
    data_file = os.path.join(data_dir, "agent-binaries", fname)
    bundled_file = os.path.join(bundled, "agent-binaries", fname)

    # (d) neither
    r = server.get(url)
    assert r.status_code == 404 and error_code(r) == "binary_not_published"

    # (b) fallback hit
    bundled_bytes = os.urandom(70000) + b"bundled"
    put(bundled_file, bundled_bytes)
    r = server.get(url)
    assert r.status_code == 200
    assert r.content == bundled_bytes
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == f'attachment; filename="{fname}"'
    assert r.headers["Content-Length"] == str(len(bundled_bytes))
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["ETag"].startswith('"')

    # (c) data-dir hit shadows the fallback
    data_bytes = os.urandom(50000) + b"override"
    put(data_file, data_bytes)
    r = server.get(url)
    assert r.status_code == 200 and r.content == data_bytes

    # (a) data-dir hit alone
    os.unlink(bundled_file)
    r = server.get(url)
    assert r.status_code == 200 and r.content == data_bytes

    # and back to (d)
    os.unlink(data_file)
    r = server.get(url)
    assert r.status_code == 404 and error_code(r) == "binary_not_published"


@pytest.mark.parametrize("name, ctype", INSTALL)
def test_install_lookup_four_cases(server, name, ctype):
    data_dir, bundled = dirs(server)
    url = f"/install/{name}"
    data_file = os.path.join(data_dir, "install", name)
    bundled_file = os.path.join(bundled, "install", name)

    r = server.get(url)  # (d)
    assert r.status_code == 404 and error_code(r) == "not_found"

    put(bundled_file, b"#!/bin/sh\necho bundled\n")  # (b)
    r = server.get(url)
    assert r.status_code == 200 and r.content == b"#!/bin/sh\necho bundled\n"
    assert r.headers["Content-Type"] == ctype
    assert "Content-Disposition" not in r.headers
    assert r.headers["Cache-Control"] == "no-cache"

    put(data_file, b"#!/bin/sh\necho operator override\n")  # (c)
    r = server.get(url)
    assert r.status_code == 200 and r.content == b"#!/bin/sh\necho operator override\n"

    os.unlink(bundled_file)  # (a)
    r = server.get(url)
    assert r.status_code == 200 and r.content == b"#!/bin/sh\necho operator override\n"


BAD_BINARY_QUERIES = [
    "os=macos&arch=amd64",
    "os=linux&arch=386",
    "os=windows&arch=arm64",
    "os=Linux&arch=amd64",
    "os=linux",
    "arch=amd64",
    "",
    "os=linux&arch=amd64&os=windows",
    "os=linux&arch=amd64&extra=1",
    "os=linux%00&arch=amd64",
    "os=linux&arch=amd64%00",
    "os=lin%75x&arch=amd64",
    "os=..%2flinux&arch=amd64",
    "os=../linux&arch=amd64",
    "os=linux/&arch=amd64",
    "os=&arch=amd64",
    "os=linux&arch=amd64.exe",
]


@pytest.mark.parametrize("query", BAD_BINARY_QUERIES)
def test_binary_bad_parameters_are_400(server, query):
    # Publish everything so a 400 can never be a lucky 404 or 200.
    data_dir, _ = dirs(server)
    for _, _, fname in BINARIES:
        put(os.path.join(data_dir, "agent-binaries", fname), b"bin")
    status, _, body = raw(server, "GET", "/agent/binary?" + query if query else "/agent/binary")
    assert status == 400, body
    assert b'"invalid_parameter"' in body


BAD_INSTALL_PATHS = [
    "/install/../install.sh",
    "/install/..",
    "/install/.",
    "/install/..%2finstall.sh",
    "/install/..%2F..%2Fsecret.key",
    "/install/%2e%2e%2finstall.sh",
    "/install/%2e%2e",
    "/install/install.sh%00",
    "/install/install.sh%00.txt",
    "/install/%00",
    "/install/install.sh%2f",
    "/install/foo.sh",
    "/install/INSTALL.SH",
    "/install/secret.key",
    "/install/restic-manager.db",
    "/install/install.sh.bak",
    "/install/install.sh/../../secret.key",
    "/agent/../install/install.sh",
]


@pytest.mark.parametrize("target", BAD_INSTALL_PATHS)
def test_install_path_tricks_are_400(server, target):
    data_dir, bundled = dirs(server)
    for name, _ in INSTALL:
        put(os.path.join(data_dir, "install", name), b"script")
        put(os.path.join(bundled, "install", name), b"script")
    status, _, body = raw(server, "GET", target)
    assert status == 400, (target, body)
    assert b'"invalid_parameter"' in body
    assert b"script" not in body


def test_head_matches_get_without_body(server):
    data_dir, bundled = dirs(server)
    blob = os.urandom(123457)
    put(os.path.join(bundled, "agent-binaries", "restic-manager-agent-linux-arm64"), blob)
    put(os.path.join(data_dir, "install", "install.ps1"), b"Write-Host hi\r\n")
    for target in ("/agent/binary?os=linux&arch=arm64", "/install/install.ps1"):
        gs, gh, gb = raw(server, "GET", target)
        hs, hh, hb = raw(server, "HEAD", target)
        assert gs == hs == 200
        assert hb == b""
        assert hh["content-length"] == gh["content-length"] == str(len(gb))
        for k in ("content-type", "etag", "cache-control"):
            assert hh[k] == gh[k]
    _, gh, gb = raw(server, "GET", "/agent/binary?os=linux&arch=arm64")
    assert gb == blob
    # HEAD of a missing asset is a 404 too
    status, _, _ = raw(server, "HEAD", "/agent/binary?os=windows&arch=amd64")
    assert status == 404


def test_etag_and_if_none_match(server):
    data_dir, _ = dirs(server)
    path = os.path.join(data_dir, "agent-binaries", "restic-manager-agent-windows-amd64.exe")
    put(path, b"MZ" + os.urandom(5000))
    url = "/agent/binary?os=windows&arch=amd64"
    r = server.get(url)
    etag = r.headers["ETag"]
    assert r.status_code == 200
    for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
        r2 = server.get(url, headers={"If-None-Match": inm})
        assert r2.status_code == 304, inm
        assert r2.content == b""
        assert r2.headers["ETag"] == etag
    r3 = server.get(url, headers={"If-None-Match": '"something-else"'})
    assert r3.status_code == 200 and len(r3.content) == 5002
    # a new file → a new ETag, and the old one no longer matches
    put(path, b"MZ" + os.urandom(6000))
    r4 = server.get(url, headers={"If-None-Match": etag})
    assert r4.status_code == 200 and r4.headers["ETag"] != etag and len(r4.content) == 6002


def test_symlinks_and_directories_are_not_served(server):
    data_dir, bundled = dirs(server)
    os.makedirs(os.path.join(data_dir, "install"), exist_ok=True)
    # An override that is a symlink (here to the master key) is skipped, not followed.
    os.symlink(os.path.join(data_dir, "secret.key"), os.path.join(data_dir, "install", "install.sh"))
    r = server.get("/install/install.sh")
    assert r.status_code == 404 and error_code(r) == "not_found"
    put(os.path.join(bundled, "install", "install.sh"), b"#!/bin/sh\n")
    r = server.get("/install/install.sh")
    assert r.status_code == 200 and r.content == b"#!/bin/sh\n"
    # A directory in place of a binary is not a file.
    os.makedirs(os.path.join(data_dir, "agent-binaries", "restic-manager-agent-linux-amd64"))
    r = server.get("/agent/binary?os=linux&arch=amd64")
    assert r.status_code == 404 and error_code(r) == "binary_not_published"


def test_large_binary_bytes_equal(server):
    _, bundled = dirs(server)
    blob = os.urandom(8 * 1024 * 1024 + 17)
    put(os.path.join(bundled, "agent-binaries", "restic-manager-agent-linux-amd64"), blob)
    r = server.get("/agent/binary?os=linux&arch=amd64")
    assert r.status_code == 200 and r.content == blob
    assert r.headers["Content-Length"] == str(len(blob))


def test_assets_are_public_and_get_only(server):
    r = server.post("/agent/binary?os=linux&arch=amd64")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"
    r = server.req("DELETE", "/install/install.sh")
    assert r.status_code == 405


def test_fifo_does_not_hang_the_server(server):
    data_dir, bundled = dirs(server)
    os.makedirs(os.path.join(data_dir, "install"), exist_ok=True)
    os.mkfifo(os.path.join(data_dir, "install", "install.ps1"))
    r = server.get("/install/install.ps1", timeout=5)
    assert r.status_code == 404 and error_code(r) == "not_found"
    put(os.path.join(bundled, "install", "install.ps1"), b"Write-Host bundled\r\n")
    r = server.get("/install/install.ps1", timeout=5)
    assert r.status_code == 200 and r.content == b"Write-Host bundled\r\n"
    assert server.get("/healthz").status_code == 200


def test_head_never_sends_a_body_on_keepalive(server):
    """HEAD answers — files and JSON errors alike — carry Content-Length but no
    body, so the next response on the same connection is parsed correctly."""
    import socket
    _, bundled = dirs(server)
    put(os.path.join(bundled, "install", "install.sh"), b"#!/bin/sh\n")
    host, port = server.addr.rsplit(":", 1)
    reqs = (b"HEAD /install/install.ps1 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /install/install.sh HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /agent/binary?os=bsd&arch=amd64 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(reqs)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    parts = data.split(b"\r\n\r\n")
    # four header blocks; only the last (GET) response has a body
    assert len(parts) == 5, data
    statuses = [p.split(b"\r\n")[0] for p in parts[:4]]
    assert statuses[0].startswith(b"HTTP/1.1 404")
    assert statuses[1].startswith(b"HTTP/1.1 200")
    assert statuses[2].startswith(b"HTTP/1.1 400")
    assert statuses[3].startswith(b"HTTP/1.1 200")
    assert b"content-length: 10" in parts[1].lower()
    assert all(b"content-length:" in p.lower() for p in parts[:3])
    assert parts[4] == b'{"status":"ok"}'
