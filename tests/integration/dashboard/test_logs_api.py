"""The logs REST routes through Flask's test client, on entries ingested by the real tailer."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path

import pytest

import storage
from app import create_app
from collectors.logs import LogTailer
from storage.tokens import create_token
from storage.users import create_user
from tasks.log_jobs import tail_logs

PASSWORD = "correct-horse-battery"
WINDOW = "since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z"


def _line(minute: int, level: str, message: str, **extra: object) -> str:
    return json.dumps(
        {
            "timestamp": f"2026-03-01T12:{minute:02d}:00Z",
            "level": level,
            "logger": "app",
            "message": message,
            **extra,
        }
    )


@pytest.fixture
def client_for(store: storage.Store, tmp_path: Path):
    for name, role in (("ada", "admin"), ("otto", "operator"), ("vera", "viewer")):
        create_user(store.engine, name, PASSWORD, role)
    log = tmp_path / "app.log"
    log.write_text(
        "\n".join(
            _line(
                i,
                ("info", "error", "warning")[i % 3],
                f"payment step {i} <b>bold</b>",
                request_id=f"r{i % 2}",
            )
            for i in range(12)
        )
        + "\n"
    )
    assert tail_logs(store, LogTailer([str(log)]), "h1") == 12
    settings = storage.load_settings(data_dir=tmp_path / "data", secret_key="api-test-secret-key-0123456789")
    app = create_app(settings, store, run_scheduler=False)

    def client(user: str):
        token = create_token(
            store.engine, f"t-{user}", user, {"ada": "admin", "otto": "operator", "vera": "viewer"}[user]
        )[1]
        test_client = app.server.test_client()
        test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return test_client

    return client


def test_search_pages_by_cursor_and_filters(client_for) -> None:
    client = client_for("vera")
    first = client.get(f"/api/logs?{WINDOW}&q=payment&limit=5").get_json()
    assert len(first["entries"]) == 5 and first["next_cursor"]
    assert first["entries"][0]["message"] == "payment step 11 <b>bold</b>"  # newest first, HTML as text
    seen = [e["id"] for e in first["entries"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/logs?{WINDOW}&q=payment&limit=5&cursor={cursor}").get_json()
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 12
    errors = client.get(f"/api/logs?{WINDOW}&level=error,warning&request_id=r1").get_json()["entries"]
    assert {e["level"] for e in errors} <= {"error", "warning"} and {e["request_id"] for e in errors} == {
        "r1"
    }
    assert len(errors) == 4
    body = {"q": "step", "level": ["error"], "since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"}
    posted = client.post("/api/logs/search", json=body).get_json()
    assert [e["level"] for e in posted["entries"]] == ["error"] * 4


def test_bad_input_is_a_400_naming_the_parameter(client_for) -> None:
    client = client_for("vera")
    for query, parameter in (("level=loud", "level"), ("since=yesterdayish", "since"), ("cursor=zzz", "cursor"),
                             ("bogus=1", "bogus"), ("limit=0", "limit")):  # fmt: skip
        answer = client.get(f"/api/logs?{query}")
        assert answer.status_code == 400, query
        assert answer.get_json()["parameter"] == parameter, (query, answer.get_json())
    assert client.get("/api/logs?q=%22unbalanced%20NEAR(%20*").status_code == 200
    missing = client.get("/api/logs/999999?context=3")
    assert missing.status_code == 404 and missing.get_json()["parameter"] == "id"


def test_entry_with_context_levels_and_channels(client_for) -> None:
    client = client_for("vera")
    entries = client.get(f"/api/logs?{WINDOW}&q=%22step%206%22").get_json()["entries"]
    answer = client.get(f"/api/logs/{entries[0]['id']}?context=2").get_json()
    assert answer["entry"]["message"].startswith("payment step 6 ")
    assert [e["message"].split()[2] for e in answer["before"]] == ["4", "5"]
    assert [e["message"].split()[2] for e in answer["after"]] == ["7", "8"]
    levels = client.get(f"/api/logs/levels?{WINDOW}").get_json()["levels"]
    assert {row["level"]: row["count"] for row in levels if row["count"]} == {
        "info": 4,
        "warning": 4,
        "error": 4,
    }
    assert client.get("/api/logs/channels?since=500w").get_json() == {"channels": ["app"]}


def _finished(client, started) -> dict:
    """Follow a 202 job at its Location until it ends (a thread of the app runs it here)."""
    assert started.status_code == 202, started.get_json()
    for _ in range(200):
        job = client.get(started.headers["Location"]).get_json()
        if job["status"] in ("done", "cancelled", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job still {job['status']}")


def test_archive_routes_roles_download_and_restore(client_for) -> None:
    body = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z", "level": ["error"]}
    denied = client_for("vera").post("/api/logs/archives/create", json=body)
    assert denied.status_code == 403
    operator = client_for("otto")
    made = _finished(operator, operator.post("/api/logs/archives/create", json=body))
    assert made["kind"] == "archive" and made["status"] == "done" and made["result"]["entries"] == 4
    archive_id = made["archive_id"]
    listed = operator.get("/api/logs/archives").get_json()["archives"]
    assert [a["id"] for a in listed] == [archive_id] and listed[0]["status"] == "written"
    download = operator.get(f"/api/logs/archives/{archive_id}/download")
    assert download.status_code == 200
    assert (
        hashlib.sha256(download.data).hexdigest()
        == download.headers["X-Checksum-SHA256"]
        == listed[0]["sha256"]
    )
    assert [json.loads(x)["level"] for x in gzip.decompress(download.data).splitlines()] == ["error"] * 4
    # Deleting hot rows is the admin's: the operator is refused before any job exists.
    assert operator.post(f"/api/logs/archives/{archive_id}/delete-hot-rows").status_code == 403
    admin = client_for("ada")
    deleted = _finished(admin, admin.post(f"/api/logs/archives/{archive_id}/delete-hot-rows"))
    assert deleted["status"] == "done" and deleted["result"]["deleted"] == 4
    restored = _finished(operator, operator.post(f"/api/logs/archives/{archive_id}/restore"))
    assert restored["result"]["restored"] == 4
    again = _finished(operator, operator.post(f"/api/logs/archives/{archive_id}/restore"))
    assert "nothing restored" in again["result"]["message"]
    assert operator.get("/api/logs/archives").get_json()["archives"][0]["status"] == "verified"
    assert operator.post("/api/logs/archives/424242/restore").status_code == 404
    assert operator.get("/api/logs/archives/424242/download").status_code == 404
    assert operator.get("/api/logs/jobs/nope").status_code == 404
    assert operator.delete("/api/logs/jobs/nope").status_code == 404
    finished = operator.delete(f"/api/logs/jobs/{again['id']}").get_json()
    assert finished["status"] == "done" and finished["cancel_requested"] is False  # too late to cancel
