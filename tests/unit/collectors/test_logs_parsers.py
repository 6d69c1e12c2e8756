"""The parsers for the logs of what Vitals watches (sample files in tests/fixtures/logs), key=value
fields, and secret masking at ingestion."""

from __future__ import annotations

import pytest

from collectors.logs import mask_context, mask_text, parse_line, parse_lines
from storage.logs import search_terms
from tests.support import FIXTURES

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def records(name: str) -> list:
    return parse_lines((FIXTURES / "logs" / name).read_text().splitlines(), NOW)


def test_mariadb_error_log_levels_time_and_subsystem() -> None:
    found = records("mariadb-error.log")
    assert [r.level for r in found] == ["info", "info", "warning", "error", "warning", "error"]
    aborted = found[2]
    assert aborted.message.startswith("Aborted connection 31")  # a warning, not info
    assert aborted.ts == 1_767_359_411_000  # 2026-01-02 13:10:11 UTC, the line's own time
    assert aborted.context == {"thread": 31}
    assert found[0].ts == 1_767_323_045_000  # space-padded hour " 3:04:05"
    assert found[1].channel == "InnoDB"
    assert (found[4].channel, found[4].context) == ("Server", {"thread": 8, "code": "MY-010055"})
    assert found[4].ts == 1_767_359_413_123
    assert found[5].ts == 1_767_359_414_000  # YYMMDD form


def test_redis_server_log_uses_its_own_time_and_markers() -> None:
    found = records("redis-server.log")
    assert [r.level for r in found] == ["warning", "notice", "debug", "debug", "warning"]
    assert found[0].ts == 1_767_323_045_001 != NOW
    assert [r.context["role"] for r in found] == ["child", "master", "master", "replica", "sentinel"]
    assert {r.channel for r in found} == {"redis"}


def test_celery_worker_log_task_id_is_the_request_id() -> None:
    found = records("celery-worker.log")
    assert [r.level for r in found] == ["info", "info", "info", "error", "warning"]
    received, succeeded, failed = found[1], found[2], found[3]
    assert received.request_id == succeeded.request_id == "3f2c0a8e-1b2d-4c5e-8f9a-0b1c2d3e4f50"
    assert succeeded.context == {
        "process": "ForkPoolWorker-1", "task": "tasks.add", "outcome": "succeeded", "runtime_ms": 8.5
    }  # fmt: skip
    assert failed.context["outcome"] == "raised unexpected" and failed.context["task"] == "tasks.charge"
    assert found[0].ts == 1_767_323_045_123


def test_key_value_fields_in_plain_text() -> None:
    found = records("keyvalue.log")
    assert [r.request_id for r in found] == ["req-7f3a", "req-7f3b", "req-7f3c"]
    assert found[0].context == {"method": "GET", "path": "/orders", "status": "200", "duration_ms": "12"}
    assert found[1].context == {"upstream": "payments api", "status": "502"}
    assert (found[1].level, found[1].channel) == ("error", "web")
    assert found[2].level == "warning"  # logfmt's own level field


def test_secrets_are_masked_before_storage() -> None:
    found = records("secrets.log")
    text = "\n".join(r.message for r in found)
    for secret in ("hunter2", "eyJhbGciOiJIUzI1NiJ9", "s3cr3t", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE",
                   "abcdef123456"):  # fmt: skip
        assert secret not in text
    assert found[0].message == "login ok user=ada password=*** next=/home"
    assert found[0].context == {"user": "ada", "password": "***", "next": "/home"}
    assert found[1].message == "GET /api Authorization: Bearer ***"
    assert found[2].message == "connecting to mysql://app:***@db.internal:3306/shop"
    assert found[3].message == "charged card **** **** **** 1111 amount=12.50"
    assert found[5].message == "order 1234567812345678 shipped"  # fails the Luhn check: not a card


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('{"password": "x1"}', '{"password": "***"}'),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic ***"),
        ("client_secret='abc'", "client_secret='***'"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "***"),
        ("max_tokens=5 tokenizer=x", "max_tokens=5 tokenizer=x"),
        ("nothing to see", "nothing to see"),
        ("redis://:topsecret@cache:6379/0", "redis://:***@cache:6379/0"),  # a password with no user
        ("http://cache:6379/a@b", "http://cache:6379/a@b"),  # a port is not a password
    ],
)
def test_mask_rules(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_json_context_is_masked() -> None:
    record = parse_line('{"msg": "login", "user": "ada", "api_key": "k-123", "nested": {"token": "t"}}', NOW)
    assert record.context == {"user": "ada", "api_key": "***", "nested": {"token": "***"}}
    assert mask_context(None) is None


def test_offsets_are_kept_per_record_and_tracebacks_start_at_their_first_line() -> None:
    lines = [
        "INFO:a:one",
        "ERROR:a:two",
        "Traceback (most recent call last):",
        "ValueError: x",
        "INFO:a:three",
    ]
    offsets = [0, 11, 23, 58, 72]
    found = parse_lines(lines, NOW, offsets=offsets, inode=7)
    assert [(r.inode, r.offset) for r in found] == [(7, 0), (7, 11), (7, 72)]


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ('timeout "connection refused" db', ["timeout", "connection refused", "db"]),
        ('"unbalanced quote', ["unbalanced quote"]),
        ("NEAR(a b) -x *", ["NEAR(a", "b)", "-x", "*"]),
        ("", []),
    ],
)
def test_search_terms(query: str, terms: list[str]) -> None:
    assert search_terms(query) == terms
