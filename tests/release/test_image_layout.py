"""The image's final stage, assembled without a container engine (none runs here):
the COPY/ENV/USER/ENTRYPOINT lines of deploy/Dockerfile.server's last stage are
read and applied to a scratch root filesystem — sources mapped from the build
stage (/src = this clone after `make server-static dist`, /out = what its RUN
line creates), owners and modes as the COPY flags say, plus the few files
distroless/static itself brings (/etc/passwd with nonroot = 65532, /tmp).

The static server then runs in that root (chroot) as the image's user, with only
the image's environment, so this checks for real what the image promises: no
libc or other file needed besides the binary, RM_BUNDLED_ASSETS_DIR's default is
where the agents are, the nonroot user can write its data volume but not the
image's tree, and nothing the image owns is written into the volume.
"""
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess

import pytest

from conftest import AGENT_FILES, DIST_TREE, INSTALL_FILES, ROOT, STATIC_SERVER, need, wait_for

DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile.server")
OS_ARCH = {"restic-manager-agent-linux-amd64": ("linux", "amd64"),
           "restic-manager-agent-linux-arm64": ("linux", "arm64"),
           "restic-manager-agent-windows-amd64.exe": ("windows", "amd64")}


def final_stage():
    text = open(DOCKERFILE).read().replace("\\\n", " ")
    stages = re.split(r"(?m)^FROM ", text)
    return stages[-1], text


def build_rootfs(tmp_path, arch="amd64"):
    final, text = final_stage()
    out = tmp_path / "out"
    # the build stage's RUN `install -d -m MODE -o UID -g GID /out/...` lines
    for mode, uid, gid, path in re.findall(r"install -d -m (\d+) -o (\d+) -g (\d+) /out(\S+)", text):
        d = out / path.lstrip("/").rstrip(";")
        d.mkdir(parents=True)
        os.chmod(d, int(mode, 8))
        os.chown(d, int(uid), int(gid))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    env, user, entry, copies = {}, None, None, 0
    for line in final.splitlines():
        line = line.strip()
        if line.startswith("COPY "):
            words = line.split()[1:]
            flags = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in words if w.startswith("--")}
            src, dst = [w for w in words if not w.startswith("--")]
            assert flags.get("--from") == "build", line
            src = src.replace("${TARGETARCH}", arch)
            if src.startswith("/src/"):
                host = os.path.join(ROOT, src[len("/src/"):])
            elif src.startswith("/out/"):
                host = str(out / src[len("/out/"):])
            else:
                pytest.fail(f"unknown build-stage path in {line}")
            need(host, "make server-static dist")
            target = rootfs / dst.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if os.path.isdir(host):
                shutil.copytree(host, target, symlinks=True)  # keeps modes, like COPY
            else:
                shutil.copy2(host, target)
            paths = [str(target)] + ([os.path.join(dp, n) for dp, dns, fns in os.walk(target) for n in dns + fns]
                                     if target.is_dir() else [])
            for p in paths:
                if "--chown" in flags:
                    u, g = flags["--chown"].split(":")
                    os.lchown(p, int(u), int(g))
                if "--chmod" in flags:
                    os.chmod(p, int(flags["--chmod"], 8))
            copies += 1
        elif line.startswith("ENV "):
            for k, v in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[k] = v
        elif line.startswith("USER "):
            user = line.split()[1]
        elif line.startswith("ENTRYPOINT "):
            entry = re.findall(r'"([^"]+)"', line)
    assert copies >= 2 and user and entry
    # what gcr.io/distroless/static-debian12 itself provides
    (rootfs / "etc").mkdir(exist_ok=True)
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\n"
                                       "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    (rootfs / "etc/group").write_text("root:x:0:\nnonroot:x:65532:\n")
    (rootfs / "tmp").mkdir(mode=0o1777)
    os.chmod(rootfs / "tmp", 0o1777)
    return rootfs, env, user, entry


@pytest.fixture
def image(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("assembling the image's root filesystem needs root (chown, chroot)")
    probe = subprocess.run([shutil.which("chroot") or "/usr/sbin/chroot", "/", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"chroot is not permitted here (CAP_SYS_CHROOT): {probe.stderr.strip()}")
    need(STATIC_SERVER["amd64"], "make server-static TARGET=amd64")
    need(DIST_TREE, "make dist")
    return build_rootfs(tmp_path)


def test_layout_owners_and_modes(image):
    rootfs, env, user, entry = image
    srv = rootfs / "usr/local/bin/restic-manager-server"
    st = os.lstat(srv)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755)
    opt = rootfs / "opt/restic-manager/dist"
    want = {"agent-binaries": 0o755, "install": 0o755}
    want.update({"agent-binaries/" + a: 0o755 for a in AGENT_FILES})
    want.update({"install/" + n: m for n, m in INSTALL_FILES.items()})
    got = {}
    for dp, dns, fns in os.walk(opt):
        for n in dns + fns:
            p = os.path.join(dp, n)
            got[os.path.relpath(p, opt)] = os.lstat(p)
    assert sorted(got) == sorted(want)
    for name, st in got.items():
        assert (st.st_uid, st.st_gid) == (0, 0), f"{name} not owned by root"
        assert stat.S_IMODE(st.st_mode) == want[name], f"{name}: {oct(stat.S_IMODE(st.st_mode))}"
    data = rootfs / "var/lib/restic-manager"
    st = os.lstat(data)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65532, 65532, 0o700)
    assert os.listdir(data) == []
    assert env.get("RM_DATA_DIR") == "/var/lib/restic-manager"
    assert "RM_BUNDLED_ASSETS_DIR" not in env  # the default, /opt/restic-manager/dist, is the image's tree
    assert user == "nonroot:nonroot" or user == "nonroot"
    assert entry == ["/usr/local/bin/restic-manager-server"]


def test_server_runs_in_the_image_as_nonroot(image):
    rootfs, env, user, entry = image
    run_env = {"PATH": "/usr/local/bin", "RM_COOKIE_SECURE": "false"}
    run_env.update(env)
    log_path = rootfs.parent / "server.log"
    with open(log_path, "wb") as logf:
        p = subprocess.Popen([shutil.which("chroot") or "/usr/sbin/chroot", "--userspec=65532:65532", "--groups=65532", str(rootfs)] + entry +
                             ["--listen", "127.0.0.1:0", "--ready-file", "/tmp/ready"],
                             env=run_env, stdout=logf, stderr=logf)
    try:
        ready = rootfs / "tmp/ready"
        wait_for(lambda: ready.exists() or p.poll() is not None, timeout=30, what="server ready in the image")
        assert p.poll() is None, log_path.read_text()
        url = "http://" + ready.read_text().strip()
        import requests
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
        for name in AGENT_FILES:
            o, a = OS_ARCH[name]
            r = requests.get(f"{url}/agent/binary?os={o}&arch={a}", timeout=30)
            assert r.status_code == 200, (name, r.text[:200])
            with open(os.path.join(DIST_TREE, "agent-binaries", name), "rb") as f:
                assert hashlib.sha256(r.content).digest() == hashlib.sha256(f.read()).digest(), name
        for n in INSTALL_FILES:
            r = requests.get(f"{url}/install/{n}", timeout=10)
            assert r.status_code == 200 and r.content == open(os.path.join(ROOT, "deploy/install", n), "rb").read()
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
    log = log_path.read_text()
    assert rc == 0, log
    assert "/bootstrap?token=" in log
    data = rootfs / "var/lib/restic-manager"
    names = set(os.listdir(data))
    assert {"restic-manager.db", "secret.key", "secrets.enc", "audit"} <= names, names
    # only operator state in the volume, all of it the server user's
    assert not names & {"agent-binaries", "install"}
    for dp, dns, fns in os.walk(data):
        for n in dns + fns:
            st = os.lstat(os.path.join(dp, n))
            assert st.st_uid == 65532, n
    # the image's tree is read-only for the server's user
    opt = rootfs / "opt/restic-manager/dist/agent-binaries"
    assert not os.stat(opt).st_mode & 0o022
