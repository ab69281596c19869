"""The daemon basics: health, version, routing errors, limits, config errors, restart."""
import os
import socket
import stat
import subprocess

from conftest import SERVER_BIN, Server, error_code


def test_healthz_and_version(server):
    r = server.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    v = server.get("/api/version").json()
    assert set(("version", "commit", "date")) <= set(v)


def test_version_flag():
    out = subprocess.run([SERVER_BIN, "--version"], capture_output=True, text=True, check=True).stdout
    assert "version" in out and "commit" in out and "date" in out


def test_help_lists_every_variable():
    out = subprocess.run([SERVER_BIN, "--help"], capture_output=True, text=True, check=True).stdout
    for var in ("RM_LISTEN", "RM_DATA_DIR", "RM_BUNDLED_ASSETS_DIR", "RM_BASE_URL", "RM_TRUSTED_PROXY",
                "RM_COOKIE_SECURE", "RM_METRICS_TOKEN", "RM_METRICS_TRUSTED_CIDR", "RM_LOG_LEVEL",
                "RM_LOG_FORMAT", "RM_SECRET_KEY_FILE"):
        assert var in out


def test_unknown_route_and_method(server):
    r = server.get("/no/such/thing")
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = server.post("/healthz")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"


def test_uri_too_long(server):
    r = server.get("/" + "a" * 9000)
    assert r.status_code == 414 and error_code(r) == "uri_too_long"


def test_headers_too_large(server):
    r = server.get("/healthz", headers={f"X-Pad-{i}": "v" * 1000 for i in range(20)})
    assert r.status_code == 431 and error_code(r) == "headers_too_large"


def test_garbage_does_not_crash(server):
    for payload in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
        with socket.create_connection((server.addr.rsplit(":", 1)[0], int(server.addr.rsplit(":", 1)[1])), timeout=5) as s:
            s.sendall(payload)
            try:
                s.recv(4096)
            except OSError:
                pass
    assert server.get("/healthz").status_code == 200


def test_data_dir_layout_and_modes(server):
    d = server.data_dir
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    key = os.path.join(d, "secret.key")
    assert os.path.getsize(key) == 32
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert os.path.exists(os.path.join(d, "secrets.enc"))
    assert os.path.exists(os.path.join(d, "restic-manager.db"))


def test_restart_reuses_key(server):
    key = open(os.path.join(server.data_dir, "secret.key"), "rb").read()
    server.restart()
    assert open(os.path.join(server.data_dir, "secret.key"), "rb").read() == key
    assert server.get("/healthz").status_code == 200


def test_bad_key_refused(tmp_path):
    s = Server(tmp_path)
    os.makedirs(s.data_dir, mode=0o700)
    key = os.path.join(s.data_dir, "secret.key")
    with open(key, "wb") as f:
        f.write(b"short")
    os.chmod(key, 0o600)
    assert s.start(expect_fail=True) != 0
    assert "expected exactly 32" in s.log_text()
    with open(key, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(key, 0o644)
    assert s.start(expect_fail=True) != 0
    assert "readable by group or others" in s.log_text()
    assert open(key, "rb").read() != b"short"  # never overwritten


def test_invalid_config_names_variable(tmp_path):
    s = Server(tmp_path, env={"RM_LOG_FORMAT": "xml"})
    assert s.start(expect_fail=True) == 2
    assert "RM_LOG_FORMAT" in s.log_text()
    s = Server(tmp_path, env={"RM_TRUSTED_PROXY": "10.0.0.0/99"})
    assert s.start(expect_fail=True) == 2
    assert "RM_TRUSTED_PROXY" in s.log_text()


def test_sigterm_exits_zero(server):
    assert server.stop() == 0
