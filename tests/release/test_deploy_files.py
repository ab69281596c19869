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
