"""GET /metrics: Prometheus text exposition format 0.0.4 (DESIGN.md §1, §4).

Off unless RM_METRICS_TOKEN or RM_METRICS_TRUSTED_CIDR is set; a bearer token
or a client address in the CIDR list (X-Forwarded-For believed only from
RM_TRUSTED_PROXY) lets a scraper in.  The body is checked by a strict parser
of the format written here (not the server's own idea of it), and its figures
are checked against a real enrolment and real restic jobs.  The token never
reaches the server log."""
import math
import os
import re
import shutil
import sqlite3
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, Server, SANITIZED, error_code, wait_for

TOKEN = "Metrics-Scrape-Token-7Rk2Vq9Lw4"
RESTIC = shutil.which("restic")
PASSWORD = "repo-pass-Mt5vB8nQ2x"
FINAL = ("succeeded", "warning", "failed", "cancelled")
JOB_TIMEOUT = 180 if SANITIZED else 90
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HOST_FAMILIES = [
    "restic_manager_host_online", "restic_manager_host_last_seen_age_seconds",
    "restic_manager_host_last_backup_timestamp_seconds", "restic_manager_host_last_backup_success",
    "restic_manager_host_last_backup_duration_seconds", "restic_manager_host_last_backup_added_bytes",
    "restic_manager_host_snapshots", "restic_manager_host_repository_size_bytes",
    "restic_manager_host_last_check_success", "restic_manager_host_repository_lock_present",
]
FAMILIES = [
    "restic_manager_build_info", "restic_manager_process_start_time_seconds",
    "restic_manager_process_resident_memory_bytes", "restic_manager_process_open_fds",
    "restic_manager_http_requests_total", "restic_manager_agent_polls_held",
    "restic_manager_agent_events_ingested_total", "restic_manager_sse_clients", "restic_manager_jobs",
    "restic_manager_jobs_finished_total", "restic_manager_hosts", "restic_manager_metrics_build_seconds",
] + HOST_FAMILIES


# ---- a strict parser of the text format 0.0.4 ----

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
VALUE_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(AssertionError):
    pass


def _label_value(line, i, ln):
    """Parse a quoted label value starting after the opening quote; return (value, index after the quote)."""
    out = []
    while True:
        if i >= len(line):
            raise ParseError(f"line {ln}: unterminated label value")
        ch = line[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            nxt = line[i + 1:i + 2]
            if nxt not in ("\\", '"', "n"):
                raise ParseError(f"line {ln}: bad escape \\{nxt!r} in a label value")
            out.append("\n" if nxt == "n" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1


def parse_sample(line, ln):
    m = NAME_RE.match(line)
    if not m:
        raise ParseError(f"line {ln}: no metric name: {line!r}")
    name, i, labels = m.group(0), m.end(), {}
    if line[i:i + 1] == "{":
        i += 1
        while line[i:i + 1] != "}":
            lm = LABEL_RE.match(line, i)
            if not lm or line[lm.end():lm.end() + 2] != '="':
                raise ParseError(f"line {ln}: bad label at column {i}: {line!r}")
            lname = lm.group(0)
            if lname in labels:
                raise ParseError(f"line {ln}: label {lname} twice")
            labels[lname], i = _label_value(line, lm.end() + 2, ln)
            if line[i:i + 1] == ",":
                i += 1
                if line[i:i + 1] == "}":
                    raise ParseError(f"line {ln}: trailing comma in labels")
            elif line[i:i + 1] != "}":
                raise ParseError(f"line {ln}: expected , or }} after a label: {line!r}")
        i += 1
    parts = line[i:].split(" ")
    if len(parts) not in (2, 3) or parts[0] != "":
        raise ParseError(f"line {ln}: expected ' value [timestamp]': {line!r}")
    if not VALUE_RE.fullmatch(parts[1]):
        raise ParseError(f"line {ln}: bad value {parts[1]!r}")
    if len(parts) == 3 and not re.fullmatch(r"-?[0-9]+", parts[2]):
        raise ParseError(f"line {ln}: bad timestamp {parts[2]!r}")
    return name, labels, float(parts[1])


def parse_prom(text):
    """Parse an exposition; return {family: {"help", "type", "samples": [(labels, value)]}}.
    Strict: every line is a HELP, a TYPE or a sample; each family has one HELP
    and one TYPE before its samples, and its lines are contiguous; no series
    twice; the body ends with a newline."""
    if not text.endswith("\n"):
        raise ParseError("body does not end with a newline")
    fams, current, seen = {}, None, set()
    for ln, line in enumerate(text[:-1].split("\n"), 1):
        if line == "":
            raise ParseError(f"line {ln}: empty line")
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) ([^ ]+) (.*)", line)
            if not m or not NAME_RE.fullmatch(m.group(2)):
                raise ParseError(f"line {ln}: bad comment line {line!r}")
            what, name, rest = m.groups()
            if name != current:
                if name in fams:
                    raise ParseError(f"line {ln}: family {name} is not contiguous")
                fams[name] = {"samples": []}
                current = name
            fam = fams[name]
            if fam["samples"]:
                raise ParseError(f"line {ln}: {what} of {name} after its samples")
            key = what.lower()
            if key in fam:
                raise ParseError(f"line {ln}: second {what} for {name}")
            if what == "TYPE" and rest not in TYPES:
                raise ParseError(f"line {ln}: unknown type {rest!r}")
            if what == "HELP" and re.search(r"\\[^\\n]", rest):
                raise ParseError(f"line {ln}: bad escape in HELP")
            fam[key] = rest
            continue
        name, labels, value = parse_sample(line, ln)
        if current and fams[current].get("type") == "histogram" and \
                name in (current + "_bucket", current + "_sum", current + "_count"):
            if name.endswith("_bucket") != ("le" in labels):
                raise ParseError(f"line {ln}: le label on a non-bucket or missing on a bucket")
            labels = dict(labels, __name__=name)
            name = current
        if name != current:
            raise ParseError(f"line {ln}: sample of {name} outside its family ({current})")
        fam = fams[name]
        if "help" not in fam or "type" not in fam:
            raise ParseError(f"line {ln}: {name} has no HELP or TYPE before its samples")
        series = (name, tuple(sorted(labels.items())))
        if series in seen:
            raise ParseError(f"line {ln}: series {series} twice")
        seen.add(series)
        fam["samples"].append((labels, value))
    for name, fam in fams.items():
        if "help" not in fam or "type" not in fam:
            raise ParseError(f"family {name} lacks HELP or TYPE")
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise ParseError(f"counter {name} does not end in _total")
    return fams


def test_parser_rejects_what_it_must():
    """The checker itself: each malformed exposition is refused."""
    good = '# HELP a_total x\n# TYPE a_total counter\na_total{k="v\\"\\\\\\n"} 1\n'
    assert parse_prom(good)["a_total"]["samples"] == [({"k": 'v"\\\n'}, 1.0)]
    bad = [
        '# TYPE a gauge\na 1\n',                                   # no HELP
        '# HELP a x\na 1\n',                                       # no TYPE
        '# HELP a x\n# TYPE a gauge\na 1',                         # no final newline
        '# HELP a x\n# TYPE a gauge\na{k="v\\t"} 1\n',             # bad escape
        '# HELP a x\n# TYPE a gauge\na{k="v} 1\n',                 # unterminated
        '# HELP a x\n# TYPE a gauge\na{k="v",} 1\n',               # trailing comma
        '# HELP a x\n# TYPE a gauge\na{k="1"} 1\na{k="1"} 2\n',    # duplicate series
        '# HELP a x\n# TYPE a gauge\na one\n',                     # bad value
        '# HELP a x\n# TYPE a gauge\nb 1\n',                       # sample outside its family
        '# HELP a x\n# TYPE a gauge\n\na 1\n',                     # empty line
        '# HELP a x\n# TYPE a counter\na 1\n',                     # counter without _total
        '# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\n# HELP a y\n',  # not contiguous
        '# HELP h x\n# TYPE h histogram\nh_bucket 1\n',            # bucket without le
        '# HELP h x\n# TYPE h gauge\nh_bucket{le="1"} 1\n',        # suffix on a non-histogram
    ]
    h = parse_prom('# HELP h x\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n')
    assert histogram(h, "h") == ([(math.inf, 2.0)], 0.5, 2.0)
    for text in bad:
        with pytest.raises(ParseError):
            parse_prom(text)


# ---- helpers ----

def scrape(server, headers=None):
    r = requests.get(server.url + "/metrics", headers=headers or {"Authorization": "Bearer " + TOKEN}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == CONTENT_TYPE
    return parse_prom(r.content.decode("utf-8"))


def value(fams, name, **labels):
    """The value of the one sample of name whose labels include labels (None when absent)."""
    hits = [v for l, v in fams[name]["samples"] if all(l.get(k) == str(x) for k, x in labels.items())]
    assert len(hits) <= 1, (name, labels, hits)
    return hits[0] if hits else None


def histogram(fams, name, **labels):
    """([(le, cumulative count)] sorted by le, sum, count) of one histogram series;
    checks the buckets are cumulative and end in +Inf equal to the count."""
    assert fams[name]["type"] == "histogram", name
    want = {k: str(v) for k, v in labels.items()}
    rows = [(l, v) for l, v in fams[name]["samples"]
            if {k: x for k, x in l.items() if k not in ("__name__", "le")} == want]
    buckets = sorted((float(l["le"]), v) for l, v in rows if l["__name__"] == name + "_bucket")
    sums = [v for l, v in rows if l["__name__"] == name + "_sum"]
    counts = [v for l, v in rows if l["__name__"] == name + "_count"]
    assert len(sums) == 1 and len(counts) == 1 and buckets, (name, labels, rows)
    assert buckets[-1][0] == math.inf and buckets[-1][1] == counts[0], (name, labels, buckets, counts)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), ("not cumulative", name, labels, buckets)
    assert sums[0] >= 0
    return buckets, sums[0], counts[0]


def check_server_clean(s, secrets=()):
    rc = s.stop()
    log = s.log_text()
    assert rc in (None, 0), f"server exited with {rc}:\n{log[-4000:]}"
    assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log
    assert ADMIN_PASSWORD not in log
    for x in secrets:
        assert x not in log, "a metrics token is in the server log"


@pytest.fixture
def server(request, tmp_path):
    """Overrides conftest's server (admin and make_agent build on it): the
    environment comes from indirect parametrization."""
    env = getattr(request, "param", None) or {}
    s = Server(tmp_path, env=env)
    s.start()
    yield s
    check_server_clean(s, [TOKEN])


def start(tmp_path, name, env):
    s = Server(tmp_path / name, env=env)
    os.makedirs(tmp_path / name, exist_ok=True)
    s.start()
    return s


# ---- access ----

def test_off_by_default(server):
    for h in ({}, {"Authorization": "Bearer " + TOKEN}):
        r = requests.get(server.url + "/metrics", headers=h, timeout=30)
        assert r.status_code == 404 and error_code(r) == "not_found"
        # indistinguishable from a route that does not exist
        assert r.json() == requests.get(server.url + "/no-such-thing", timeout=30).json()
    assert "restic_manager_" not in requests.head(server.url + "/metrics", timeout=30).text


def test_token_auth(tmp_path):
    s = start(tmp_path, "tok", {"RM_METRICS_TOKEN": TOKEN})
    wrong = [TOKEN[:-1], TOKEN + "x", TOKEN.lower(), "x" * len(TOKEN), ""]
    try:
        r = requests.get(s.url + "/metrics", timeout=30)
        assert r.status_code == 401 and error_code(r) == "unauthenticated"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        for w in wrong:
            r = requests.get(s.url + "/metrics", headers={"Authorization": "Bearer " + w}, timeout=30)
            assert r.status_code == 401 and error_code(r) == "invalid_token", w
            assert TOKEN not in r.text
        r = requests.get(s.url + "/metrics", headers={"Authorization": "Basic " + TOKEN}, timeout=30)
        assert r.status_code == 401
        # an API-style token of a user is not a metrics token
        r = requests.get(s.url + "/metrics", headers={"Authorization": "Bearer " + "A" * 43}, timeout=30)
        assert r.status_code == 401
        fams = scrape(s)
        assert set(FAMILIES) <= set(fams), set(FAMILIES) - set(fams)
        fams = scrape(s, {"Authorization": "bearer " + TOKEN})  # the scheme is case-insensitive
        r = requests.head(s.url + "/metrics", headers={"Authorization": "Bearer " + TOKEN}, timeout=30)
        assert r.status_code == 200 and r.content == b"" and int(r.headers["Content-Length"]) > 1000
    finally:
        check_server_clean(s, [TOKEN] + [w for w in wrong if len(w) > 8])


def test_cidr_auth(tmp_path):
    s = start(tmp_path, "lo", {"RM_METRICS_TRUSTED_CIDR": "192.0.2.0/24, 127.0.0.1/32"})
    try:
        scrape(s, headers={})
        # no token is configured: an Authorization header is no credential here and changes nothing
        r = requests.get(s.url + "/metrics", headers={"Authorization": "Bearer " + TOKEN}, timeout=30)
        assert r.status_code == 200
    finally:
        check_server_clean(s)
    s = start(tmp_path, "ten", {"RM_METRICS_TRUSTED_CIDR": "10.0.0.0/8"})
    try:
        r = requests.get(s.url + "/metrics", timeout=30)
        assert r.status_code == 403 and error_code(r) == "forbidden"
        # X-Forwarded-For is not believed without RM_TRUSTED_PROXY
        r = requests.get(s.url + "/metrics", headers={"X-Forwarded-For": "10.1.2.3"}, timeout=30)
        assert r.status_code == 403
    finally:
        check_server_clean(s)
    s = start(tmp_path, "both", {"RM_METRICS_TRUSTED_CIDR": "10.0.0.0/8", "RM_METRICS_TOKEN": TOKEN})
    try:
        r = requests.get(s.url + "/metrics", timeout=30)
        assert r.status_code == 401 and error_code(r) == "unauthenticated"
        scrape(s)
    finally:
        check_server_clean(s, [TOKEN])
    s = start(tmp_path, "both-lo", {"RM_METRICS_TRUSTED_CIDR": "127.0.0.0/8", "RM_METRICS_TOKEN": TOKEN})
    try:
        scrape(s, headers={})
        r = requests.get(s.url + "/metrics", headers={"Authorization": "Bearer wrong-token-123456"}, timeout=30)
        assert r.status_code == 401 and error_code(r) == "invalid_token"
    finally:
        check_server_clean(s, [TOKEN])


def test_forwarded_for_only_from_trusted_proxy(tmp_path):
    env = {"RM_TRUSTED_PROXY": "127.0.0.1/32", "RM_METRICS_TRUSTED_CIDR": "10.0.0.0/8"}
    s = start(tmp_path, "proxied", env)
    try:
        def get(xff):
            h = {"X-Forwarded-For": xff} if xff else {}
            return requests.get(s.url + "/metrics", headers=h, timeout=30).status_code
        assert get(None) == 403                       # the proxy itself is not in the list
        assert get("10.1.2.3") == 200                 # the client behind the proxy is
        assert get("192.0.2.9, 10.1.2.3") == 200      # the right-most entry is the one the proxy added
        assert get("10.1.2.3, 192.0.2.9") == 403      # a client cannot smuggle an address to the left
        assert get("not-an-address") == 403
    finally:
        check_server_clean(s)
    env = {"RM_TRUSTED_PROXY": "192.0.2.0/24", "RM_METRICS_TRUSTED_CIDR": "10.0.0.0/8"}
    s = start(tmp_path, "untrusted", env)
    try:
        r = requests.get(s.url + "/metrics", headers={"X-Forwarded-For": "10.1.2.3"}, timeout=30)
        assert r.status_code == 403
    finally:
        check_server_clean(s)
    # the real client counts, not the proxy: a trusted proxy's own address does not let others in
    env = {"RM_TRUSTED_PROXY": "127.0.0.1/32", "RM_METRICS_TRUSTED_CIDR": "127.0.0.1/32"}
    s = start(tmp_path, "proxy-only", env)
    try:
        r = requests.get(s.url + "/metrics", headers={"X-Forwarded-For": "192.0.2.9"}, timeout=30)
        assert r.status_code == 403
        scrape(s, headers={})
    finally:
        check_server_clean(s)


# ---- body and figures ----

@pytest.mark.parametrize("server", [{"RM_METRICS_TOKEN": TOKEN}], indirect=True)
def test_body_shape_and_escaping(server, admin):
    fams = scrape(server)
    assert set(FAMILIES) <= set(fams)
    for name in FAMILIES:
        assert fams[name]["type"] == ("counter" if name.endswith("_total") else "gauge"), name
        assert fams[name]["help"], name
    build = fams["restic_manager_build_info"]["samples"]
    assert len(build) == 1 and build[0][1] == 1.0
    assert set(build[0][0]) == {"version", "commit", "date"}
    v = requests.get(server.url + "/api/version", timeout=30).json()
    assert build[0][0] == {"version": v["version"], "commit": v["commit"], "date": v["date"]}
    assert value(fams, "restic_manager_hosts", status="online") == 0
    assert value(fams, "restic_manager_hosts", status="offline") == 0
    assert value(fams, "restic_manager_process_resident_memory_bytes") > 1 << 20
    assert value(fams, "restic_manager_process_open_fds") >= 3
    assert abs(value(fams, "restic_manager_process_start_time_seconds") - time.time()) < 600
    assert {l["code"] for l, _ in fams["restic_manager_http_requests_total"]["samples"]} == \
        {"1xx", "2xx", "3xx", "4xx", "5xx"}
    ok_before = value(fams, "restic_manager_http_requests_total", code="2xx")
    assert ok_before >= 2  # bootstrap, login (this scrape counts once answered)
    r = admin.get("/api/v1/no-such-route")
    assert r.status_code == 404
    fams2 = scrape(server)
    assert value(fams2, "restic_manager_http_requests_total", code="2xx") >= ok_before + 1  # the scrape itself
    assert value(fams2, "restic_manager_http_requests_total", code="4xx") >= \
        value(fams, "restic_manager_http_requests_total", code="4xx") + 1

    # a host whose name needs every escape of the format: the API takes quotes and
    # backslashes; it refuses control characters, so the line feed is written into the
    # database directly (the exposition must stay well-formed whatever a name holds)
    weird_api = 'we"ird\\host {x="1"},'
    weird = 'we"ird\\host\nname {x="1"},'
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "plain", "repository": {"url": "/tmp/none", "password": PASSWORD}})
    assert r.status_code == 201, r.text
    r = requests.post(server.url + "/api/agent/v1/enroll", headers={"X-RM-Protocol": "1"},
                      json={"token": r.json()["token"], "hostname": "plain", "os": "linux", "arch": "amd64",
                            "agent_version": "test", "restic_version": "0.16.0", "protocol_version": 1}, timeout=30)
    assert r.status_code in (200, 201), r.text
    host_id = r.json()["host_id"]
    r = admin.patch(f"/api/v1/hosts/{host_id}", json={"name": weird_api})
    assert r.status_code == 200, r.text
    fams = scrape(server)
    assert value(fams, "restic_manager_host_online", host=weird_api, host_id=host_id) is not None
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"), timeout=30)
    with db:
        db.execute("UPDATE hosts SET name = ? WHERE id = ?", (weird, host_id))
    db.close()
    text = requests.get(server.url + "/metrics", headers={"Authorization": "Bearer " + TOKEN}, timeout=30).text
    assert 'host="we\\"ird\\\\host\\nname {x=\\"1\\"},"' in text
    fams = parse_prom(text)
    assert value(fams, "restic_manager_host_online", host=weird, host_id=host_id) is not None
    assert value(fams, "restic_manager_host_snapshots", host=weird, host_id=host_id) == 0
    assert value(fams, "restic_manager_hosts", status="online") + \
        value(fams, "restic_manager_hosts", status="offline") == 1
    # never backed up, never checked: those figures are absent, not zero
    for name in ("restic_manager_host_last_backup_timestamp_seconds", "restic_manager_host_last_backup_success",
                 "restic_manager_host_last_check_success", "restic_manager_host_repository_size_bytes"):
        assert value(fams, name, host_id=host_id) is None, name
    # a deleted host disappears
    assert admin.delete(f"/api/v1/hosts/{host_id}").status_code in (200, 204)
    fams = scrape(server)
    assert value(fams, "restic_manager_host_online", host_id=host_id) is None
    assert value(fams, "restic_manager_hosts", status="offline") + \
        value(fams, "restic_manager_hosts", status="online") == 0


@pytest.mark.parametrize("server", [{"RM_METRICS_TOKEN": TOKEN}], indirect=True)
def test_concurrent_scrapes_share_one_build(server, admin):
    """Scrapes that arrive while a body is being built get it too (and all parse)."""
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(8) as ex:
        bodies = list(ex.map(lambda _: requests.get(server.url + "/metrics",
                                                    headers={"Authorization": "Bearer " + TOKEN},
                                                    timeout=60), range(16)))
    for r in bodies:
        assert r.status_code == 200
        parse_prom(r.text)


@pytest.mark.parametrize("server", [{"RM_METRICS_TOKEN": TOKEN}], indirect=True)
def test_scrapers_that_go_away(server):
    """Clients that hang up before (or while) the body is sent leave the server
    answering (the sanitizer build checks the memory; teardown checks its log)."""
    import socket
    host, port = server.addr.rsplit(":", 1)
    req = f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
    socks = []
    for i in range(24):
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(req)
        if i % 3 == 0:
            s.close()  # at once: the build may still be running
        else:
            socks.append(s)
    for s in socks[::2]:
        s.recv(100)  # part of the answer, then away
    for s in socks:
        s.close()
    scrape(server)
    assert requests.get(server.url + "/healthz", timeout=30).status_code == 200


# ---- end to end: a real agent and restic ----

def wait_job(admin, job_id):
    def done():
        j = admin.get(f"/api/v1/jobs/{job_id}").json()
        return j if j["status"] in FINAL else None
    return wait_for(done, timeout=JOB_TIMEOUT, interval=0.1, what=f"job {job_id}")


def run_job(admin, host_id, body):
    r = admin.post(f"/api/v1/hosts/{host_id}/jobs", json=body)
    assert r.status_code == 201, r.text
    j = wait_job(admin, r.json()["id"])
    assert j["status"] == "succeeded", j
    return j


@pytest.mark.skipif(RESTIC is None, reason="restic is not installed")
@pytest.mark.parametrize("server", [{"RM_METRICS_TOKEN": TOKEN, "RM_LOG_LEVEL": "debug"}], indirect=True)
def test_figures_follow_a_real_enrolment_and_backup(server, admin, make_agent, tmp_path):
    before = scrape(server)
    assert value(before, "restic_manager_agent_events_ingested_total") == 0
    assert value(before, "restic_manager_agent_polls_held") == 0
    assert fams_total(before, "restic_manager_jobs_finished_total") == 0

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(os.urandom(200000))
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "metrics-host", "repository": {"url": str(tmp_path / "repo"),
                                                                     "password": PASSWORD},
                         "paths": [str(src)]})
    assert r.status_code == 201, r.text
    agent = make_agent("metrics-agent")
    assert agent.enroll(r.json()["token"]).returncode == 0
    agent.run()
    hid = agent.host_id
    t0 = time.time()
    run_job(admin, hid, {"kind": "init"})
    backup = run_job(admin, hid, {"kind": "backup", "group": "default"})
    run_job(admin, hid, {"kind": "check"})
    run_job(admin, hid, {"kind": "stats"})

    def settled():
        f = scrape(server)
        ok = (value(f, "restic_manager_agent_polls_held") == 1
              and value(f, "restic_manager_host_repository_size_bytes", host_id=hid) is not None
              and value(f, "restic_manager_host_snapshots", host_id=hid) == 1)
        return f if ok else None
    f = wait_for(settled, timeout=60, interval=0.2, what="metrics after the jobs")
    h = {"host_id": hid, "host": "metrics-host"}
    assert value(f, "restic_manager_hosts", status="online") == 1
    assert value(f, "restic_manager_hosts", status="offline") == 0
    assert value(f, "restic_manager_host_online", **h) == 1
    assert 0 <= value(f, "restic_manager_host_last_seen_age_seconds", **h) <= 60
    ts = value(f, "restic_manager_host_last_backup_timestamp_seconds", **h)
    assert t0 - 5 <= ts <= time.time() + 5
    assert value(f, "restic_manager_host_last_backup_success", **h) == 1
    dur = value(f, "restic_manager_host_last_backup_duration_seconds", **h)
    assert 0 <= dur < JOB_TIMEOUT
    assert math.isclose(dur, backup["summary"]["total_duration"], rel_tol=1e-6)
    added = value(f, "restic_manager_host_last_backup_added_bytes", **h)
    assert added == backup["summary"]["data_added"] and added > 100000
    assert value(f, "restic_manager_host_snapshots", **h) == 1
    assert value(f, "restic_manager_host_repository_size_bytes", **h) > 100000
    assert value(f, "restic_manager_host_last_check_success", **h) == 1
    lock = value(f, "restic_manager_host_repository_lock_present", **h)
    assert lock in (None, 0)
    for kind in ("init", "backup", "check"):
        assert value(f, "restic_manager_jobs_finished_total", kind=kind, status="succeeded") == 1, kind
    # the first backup queued a `stats` system job (run before the check) besides the one run here
    assert value(f, "restic_manager_jobs_finished_total", kind="stats", status="succeeded") == 2
    assert value(f, "restic_manager_jobs", status="queued") == 0
    assert value(f, "restic_manager_jobs", status="running") == 0
    assert value(f, "restic_manager_agent_events_ingested_total") > 8
    assert value(f, "restic_manager_http_requests_total", code="2xx") > \
        value(before, "restic_manager_http_requests_total", code="2xx") + 10

    # a failing backup flips the success gauge
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "backup", "paths": [str(tmp_path / "missing")]})
    assert r.status_code == 201, r.text
    j = wait_job(admin, r.json()["id"])
    assert j["status"] in ("failed", "warning"), j
    f = scrape(server)
    assert value(f, "restic_manager_host_last_backup_success", **h) == (0 if j["status"] == "failed" else 1)
    assert value(f, "restic_manager_jobs_finished_total", kind="backup", status=j["status"]) == 1

    # a live event stream is counted
    with requests.get(server.url + "/api/v1/events", cookies=admin.s.cookies, stream=True, timeout=30) as es:
        assert es.status_code == 200
        wait_for(lambda: value(scrape(server), "restic_manager_sse_clients") == 1, what="sse client counted")
    agent.stop()
    assert TOKEN not in server.log_text()


def fams_total(fams, name):
    return sum(v for _, v in fams[name]["samples"])


ROUTE_CLASSES = ("agent_hello", "agent_poll", "agent_events", "api", "other")


@pytest.mark.parametrize("server", [{"RM_METRICS_TOKEN": TOKEN}], indirect=True)
def test_request_duration_histograms(server, admin):
    """restic_manager_http_request_duration_seconds by route class and
    restic_manager_agent_wake_seconds: present, cumulative, counts growing with
    the requests made; a held poll counts as a wake-up, not as a request."""
    import threading
    dur, wake = "restic_manager_http_request_duration_seconds", "restic_manager_agent_wake_seconds"
    fams = scrape(server)
    assert fams[dur]["type"] == "histogram" and fams[dur]["help"]
    assert fams[wake]["type"] == "histogram" and fams[wake]["help"]
    before = {rc: histogram(fams, dur, route=rc)[2] for rc in ROUTE_CLASSES}
    wake0 = histogram(fams, wake)[2]
    assert before["api"] >= 2  # bootstrap and login

    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "h1", "repository": {"url": "/tmp/none", "password": PASSWORD}})
    assert r.status_code == 201, r.text
    r = requests.post(server.url + "/api/agent/v1/enroll", headers={"X-RM-Protocol": "1"},
                      json={"token": r.json()["token"], "hostname": "h1", "os": "linux", "arch": "amd64",
                            "agent_version": "test", "restic_version": "0.16.0", "protocol_version": 1}, timeout=30)
    assert r.status_code in (200, 201), r.text
    hid, ah = r.json()["host_id"], {"X-RM-Protocol": "1", "Authorization": "Bearer " + r.json()["agent_token"]}
    base = server.url + "/api/agent/v1"
    r = requests.post(base + "/hello", headers=ah, timeout=30,
                      json={"protocol_version": 1, "agent_version": "test", "os": "linux", "arch": "amd64",
                            "hostname": "h1", "restic_version": "0.16.0", "schedule_version": 0,
                            "running_job_id": None, "last_command_seq": 0})
    assert r.status_code == 200, r.text
    for _ in range(3):
        assert requests.get(base + "/commands?after=0&wait=0", headers=ah, timeout=30).status_code == 200
    requests.post(base + "/events", headers=ah, json={"events": []}, timeout=30)
    requests.get(server.url + "/no-such-thing", timeout=30)

    # a held poll woken by a queued job
    got = {}
    t = threading.Thread(target=lambda: got.update(
        r=requests.get(base + "/commands?after=0&wait=30", headers=ah, timeout=60)))
    t.start()
    wait_for(lambda: admin.get(f"/api/v1/hosts/{hid}").json()["polling"] is True, what="held poll")
    held = histogram(scrape(server), dur, route="agent_poll")[2]
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "backup", "paths": ["/srv"]})
    assert r.status_code == 201, r.text
    t.join(60)
    assert got["r"].status_code == 200 and got["r"].json()["commands"], got["r"].text

    fams = scrape(server)
    after = {rc: histogram(fams, dur, route=rc)[2] for rc in ROUTE_CLASSES}
    assert after["agent_hello"] >= before["agent_hello"] + 1
    assert after["agent_poll"] >= before["agent_poll"] + 3
    assert after["agent_events"] >= before["agent_events"] + 1
    assert after["api"] >= before["api"] + 4  # enrolment token, enrol, hosts, job (+ scrapes' own)
    assert after["other"] >= before["other"] + 1
    assert after["agent_poll"] == held  # the held poll is not a request duration
    buckets, total, n = histogram(fams, wake)
    assert n == wake0 + 1
    lag = "restic_manager_loop_lag_seconds"
    assert fams[lag]["type"] == "histogram"
    n_lag = histogram(fams, lag)[2]
    assert n_lag >= 1  # a probe every 0.1 s since the start
    wait_for(lambda: histogram(scrape(server), lag)[2] > n_lag, what="loop lag probes")
    assert total < 5 and buckets[-2][0] == 5  # fixed buckets up to 5 s
