"""The static agents' HTTPS stack (libcurl over mbedTLS, no compiled-in CA path).

A TLS terminator (Python's ssl, TLS 1.2+, certificate for DNS:localhost signed by
a throw-away CA) forwards to the native server, as a reverse proxy would.  The
static linux-amd64 agent must:
  * enrol and run over https with --ca-file pointing at that CA (and the run loop
    must keep long-polling through it: the host comes online);
  * refuse the server without --ca-file: the test CA is not in the distribution
    bundle that src/agent/ca_paths.c finds;
  * refuse a certificate for another name even with the right CA.
The arm64 agent runs the same enrolment under qemu-aarch64-static.
"""
import os
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import AGENTS_DIR, NATIVE_SERVER, QEMU_ARM64, AnyServer, bootstrap_admin, need, run, wait_for


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def make_pki(d, name):
    """ca.pem + server-<name>.pem/.key with SAN DNS:<name>."""
    if not os.path.exists(os.path.join(d, "ca.pem")):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "2", "-subj", "/CN=restic-manager test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"server-{name}.key", "-out", f"server-{name}.csr",
            "-subj", f"/CN={name}", cwd=d)
    with open(os.path.join(d, f"ext-{name}.cnf"), "w") as f:
        f.write(f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"server-{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"server-{name}.pem", "-days", "2", "-extfile", f"ext-{name}.cnf", cwd=d)
    return os.path.join(d, "ca.pem"), os.path.join(d, f"server-{name}.pem"), os.path.join(d, f"server-{name}.key")


class TlsProxy:
    """Accepts TLS on 127.0.0.1:0 and pipes each connection to the backend."""

    def __init__(self, cert, key, backend):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(cert, key)
        self.backend = backend
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    def handle(self, c):
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            c.close()
            return
        host, port = self.backend.rsplit(":", 1)
        b = socket.create_connection((host, int(port)))

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        threading.Thread(target=pump, args=(b, t), daemon=True).start()
        pump(t, b)

    def close(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture
def tls_env(tmp_path):
    server = AnyServer(tmp_path, need(NATIVE_SERVER, "make build"))
    pki = tmp_path / "pki"
    pki.mkdir()
    ca, cert, key = make_pki(str(pki), "localhost")
    _, wcert, wkey = make_pki(str(pki), "wrong.example")
    server.start()
    good = wrong = None
    try:
        good = TlsProxy(cert, key, server.addr)
        wrong = TlsProxy(wcert, wkey, server.addr)
        admin = bootstrap_admin(server)
        yield server, admin, ca, good, wrong
    finally:
        for p in (good, wrong):
            if p:
                p.close()
        assert server.stop() in (0, None)


def token(admin, name):
    r = admin.post("/api/v1/enrollment-tokens", json={"hostname": name, "repository": {"url": "/srv/r"}, "paths": ["/"]})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def enroll(runner, agent, url, tok, tmp, *extra):
    argv = runner + [agent, "enroll", "--server", url, "--config-dir", str(tmp / "conf"),
                     "--state-dir", str(tmp / "state"), *extra]
    return run(argv, env=dict(os.environ, RM_ENROL_TOKEN=tok), timeout=120)


def test_amd64_agent_https_ca_file_and_rejections(tls_env, tmp_path):
    server, admin, ca, good, wrong = tls_env
    agent = need(os.path.join(AGENTS_DIR, "restic-manager-agent-linux-amd64"), "make agents")
    url = f"https://localhost:{good.port}"
    # untrusted: the test CA is in no distribution bundle
    r = enroll([], agent, url, token(admin, "tls-untrusted"), tmp_path / "a")
    assert r.returncode != 0 and "NOT_TRUSTED" in r.stderr, r.stderr
    # right CA, wrong name
    r = enroll([], agent, f"https://localhost:{wrong.port}", token(admin, "tls-wrongname"), tmp_path / "b",
               "--ca-file", ca)
    assert r.returncode != 0 and "MISMATCH" in r.stderr, r.stderr
    assert not any(h["name"] in ("tls-untrusted", "tls-wrongname") for h in admin.get("/api/v1/hosts").json()["items"])
    # right CA and name: enrols, then runs over https and comes online
    r = enroll([], agent, url, token(admin, "tls-ok"), tmp_path / "c", "--ca-file", ca)
    assert r.returncode == 0, r.stdout + r.stderr
    log = open(tmp_path / "agent.log", "wb")
    p = subprocess.Popen([agent, "run", "--config-dir", str(tmp_path / "c/conf"), "--state-dir",
                          str(tmp_path / "c/state"), "--ca-file", ca], stdout=log, stderr=log)
    try:
        def online():
            hs = admin.get("/api/v1/hosts").json()["items"]
            return any(h["name"] == "tls-ok" and h["status"] == "online" for h in hs)
        wait_for(online, timeout=60, what="agent online over https")
    finally:
        p.terminate()
        assert p.wait(timeout=30) == 0


def test_arm64_agent_https_under_qemu(tls_env, tmp_path):
    server, admin, ca, good, wrong = tls_env
    agent = need(os.path.join(AGENTS_DIR, "restic-manager-agent-linux-arm64"), "make agents")
    if not QEMU_ARM64:
        pytest.fail("qemu-aarch64-static missing (scripts/deps.sh static)")
    url = f"https://localhost:{good.port}"
    r = enroll([QEMU_ARM64], agent, url, token(admin, "tls-arm64-untrusted"), tmp_path / "a")
    assert r.returncode != 0 and "NOT_TRUSTED" in r.stderr, r.stderr
    r = enroll([QEMU_ARM64], agent, url, token(admin, "tls-arm64"), tmp_path / "b", "--ca-file", ca)
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(h["name"] == "tls-arm64" for h in admin.get("/api/v1/hosts").json()["items"])
