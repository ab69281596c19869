"""The image and workflow definitions, checked as text (no container engine runs on
this machine, see NOTES): the Dockerfile follows DESIGN.md §9 and builds with the
same make targets the release phase tests; compose publishes on loopback only; the
workflows trigger, build and tag as §9 says."""
import os
import re

from conftest import ROOT


def read(rel):
    return open(os.path.join(ROOT, rel)).read()


def stages(dockerfile):
    """[(from-line, body)] per FROM."""
    parts = re.split(r"(?m)^(FROM .*)$", dockerfile)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


def test_dockerfile_follows_design():
    d = read("deploy/Dockerfile.server")
    st = stages(d)
    assert st[0][0].startswith("FROM --platform=$BUILDPLATFORM debian:bookworm AS build")
    final_from, final = st[-1]
    assert final_from.strip() == "FROM gcr.io/distroless/static-debian12:nonroot"
    build = st[0][1]
    for arg in ("VERSION", "COMMIT", "DATE"):
        assert f'ARG {arg}=""' in build
    assert "ARG TARGETARCH" in build and "ARG TARGETARCH" in final
    # the same make targets the release phase runs and tests
    assert re.search(r'make .*server-static TARGET="\$TARGETARCH"', build)
    assert re.search(r"make .* dist", build)
    assert "scripts/static-deps.sh" in build
    # final layout
    assert "/src/build/server-static/${TARGETARCH}/restic-manager-server /usr/local/bin/restic-manager-server" in final
    assert re.search(r"COPY --from=build --chown=0:0 /src/dist/opt/restic-manager/dist /opt/restic-manager/dist", final)
    assert "EXPOSE 8080" in final
    assert "VOLUME /var/lib/restic-manager" in final
    assert "RM_DATA_DIR=/var/lib/restic-manager" in final and "RM_LISTEN=:8080" in final
    assert 'ENTRYPOINT ["/usr/local/bin/restic-manager-server"]' in final
    assert "USER nonroot" in final


def test_dockerignore_keeps_build_outputs_out():
    lines = read(".dockerignore").split()
    for x in ("build", "bin", "dist", ".git"):
        assert x in lines


def test_compose_binds_loopback_only():
    c = read("deploy/docker-compose.yml")
    ports = re.findall(r'^\s*-\s*"?([^"\n]+:\d+)"?\s*$', c.split("ports:")[1].split("volumes:")[0], re.M)
    assert ports == ["127.0.0.1:8080:8080"]
    assert "rm-data:/var/lib/restic-manager" in c


def test_release_workflow():
    w = read(".gitea/workflows/release.yml")
    assert "tags: ['v[0-9]+.[0-9]+.[0-9]+']" in w
    assert "workflow_dispatch:" in w
    assert 'scripts/release-tags.sh "${{ gitea.event_name }}" "${{ gitea.ref_name }}" "${{ gitea.sha }}" "$IMAGE"' in w
    assert "platforms: linux/amd64,linux/arm64" in w
    assert "file: deploy/Dockerfile.server" in w
    assert "tags: ${{ steps.meta.outputs.tags }}" in w
    for a in ("VERSION=${{ steps.meta.outputs.version }}", "COMMIT=${{ gitea.sha }}", "DATE=${{ steps.meta.outputs.date }}"):
        assert a in w
    assert "SHA256SUMS" in w and "steps.build.outputs.digest" in w


def test_ci_workflow():
    w = read(".gitea/workflows/ci.yml")
    assert "make check" in w
    m = re.search(r"timeout-minutes:\s*(\d+)", w)
    assert m and int(m.group(1)) <= 90
    assert "/var/cache/restic-manager/deps" in w


def test_readme_covers_the_release_paths():
    """README (issue 4): the docker run snippet of DESIGN.md §9, compose, Caddy and
    nginx reverse-proxy examples with the timeouts long-polls (AGENTD_MAX_WAIT) and SSE
    need, the source build, RM_BUNDLED_ASSETS_DIR and overriding a bundled agent;
    the configuration reference documents RM_BUNDLED_ASSETS_DIR and its lookup."""
    r = read("README.md")
    assert re.search(r"docker run .*-v rm-data:/var/lib/restic-manager -p 127\.0\.0\.1:8080:8080", r.replace("\\\n", " ")
                     .replace("\n      ", " ")), "docker run snippet"
    assert re.search(r":vX\.Y\.Z", r) and "no `latest`" in r
    assert "docker compose -f deploy/docker-compose.yml" in r
    caddy = r[r.index("Caddy:"):r.index("nginx:")]
    assert "reverse_proxy 127.0.0.1:8080" in caddy and "flush_interval -1" in caddy
    m = re.search(r"read_timeout (\d+)(s|m|h)", caddy)
    assert m and int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)] >= 3600  # SSE streams
    nginx = r[r.index("nginx:"):]
    nginx = nginx[:nginx.index("\n    }\n", nginx.index("server {"))]
    max_wait = int(re.search(r"#define AGENTD_MAX_WAIT\s+(\d+)", read("src/server/agentd.h")).group(1))
    timeouts = [int(x) for x in re.findall(r"proxy_read_timeout (\d+)s", nginx)]
    assert timeouts and min(timeouts) > max_wait, f"nginx must wait longer than a long-poll ({max_wait} s)"
    assert "proxy_buffering off" in nginx and "proxy_read_timeout 1h" in nginx  # SSE
    assert "proxy_http_version 1.1" in nginx and "X-Forwarded-For" in nginx
    assert "RM_TRUSTED_PROXY" in r
    assert "make build" in r and "make dist" in r and "make agents" in r
    assert "RM_BUNDLED_ASSETS_DIR" in r and "agent-binaries/" in r  # operator override
    conf = read("docs/configuration.md")
    assert "`RM_BUNDLED_ASSETS_DIR`" in conf and "/opt/restic-manager/dist" in conf
    assert "$RM_DATA_DIR/agent-binaries/" in conf and "$RM_BUNDLED_ASSETS_DIR/agent-binaries/" in conf


def shell_scripts():
    """Every committed-or-not shell script: by shebang, outside build outputs."""
    out = []
    for top in ("scripts", "deploy", ".ci", "tests", "bench"):
        for dp, dns, fns in os.walk(os.path.join(ROOT, top)):
            dns[:] = [d for d in dns if d not in ("node_modules", "corpus", "__pycache__")]
            for n in fns:
                p = os.path.join(dp, n)
                try:
                    with open(p, "rb") as f:
                        first = f.readline()
                except OSError:
                    continue
                if re.match(rb"#!\s*(/usr/bin/env\s+)?(/bin/)?(ba|da)?sh\b", first):
                    out.append(p)
    return sorted(out)


def test_every_shell_script_is_shellcheck_clean():
    """shellcheck (installed by scripts/deps.sh test) over all shell scripts, not
    only install.sh: no warnings, no infos."""
    import shutil
    import subprocess
    assert shutil.which("shellcheck"), "shellcheck missing: scripts/deps.sh test installs it"
    scripts = shell_scripts()
    names = {os.path.relpath(p, ROOT) for p in scripts}
    assert {"deploy/install/install.sh", "scripts/release-tags.sh", "scripts/deps.sh", ".ci/run"} <= names
    r = subprocess.run(["shellcheck", "-x"] + scripts, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:]
