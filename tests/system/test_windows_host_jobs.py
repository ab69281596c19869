"""Server-side rules for Windows hosts: restic 0.14 keeps Windows snapshot
paths as /C/..., so an in-place restore cannot put files back where they were
and is refused with a clear error; restores into a drive-letter directory are
accepted."""
from conftest import error_code
from test_agent_protocol import FakeAgent, enrol_token, create_job


def windows_agent(server, admin, hostname):
    a = FakeAgent(server)
    assert a.enroll(enrol_token(admin, hostname)["token"]).status_code == 201
    body = {"protocol_version": 1, "agent_version": "test", "os": "windows", "arch": "amd64",
            "hostname": hostname, "restic_version": "0.14.0", "schedule_version": 0,
            "running_job_id": None, "last_command_seq": 0}
    r = a.s.post(server.url + "/api/agent/v1/hello", headers=a.headers(), json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert admin.get(f"/api/v1/hosts/{a.host_id}").json()["os"] == "windows"
    return a


def test_in_place_restore_refused_on_windows(server, admin):
    a = windows_agent(server, admin, "win-1")
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs",
                   json={"kind": "restore", "snapshot": "abcdef12", "in_place": True, "confirm": "win-1"})
    assert r.status_code == 400, r.text
    assert error_code(r) == "invalid_field"
    assert "Windows" in r.json()["error"]["message"]
    # Nothing was queued.
    assert admin.get(f"/api/v1/jobs?host={a.host_id}").json()["items"] == []


def test_drive_letter_target_accepted_on_windows(server, admin):
    a = windows_agent(server, admin, "win-2")
    j = create_job(admin, a.host_id, kind="restore", snapshot="abcdef12", target="D:\\restore\\x")
    assert j["args"]["target"] == "D:\\restore\\x"
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs",
                   json={"kind": "restore", "snapshot": "abcdef12", "target": "D:\\a\\..\\Windows"})
    assert r.status_code == 400
