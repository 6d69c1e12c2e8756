"""Log line parsers: each format, its usual variants, and the lines that break the rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.logs.parse import LEVELS, LogRecord, normalize_level, parse_line, parse_lines, parse_timestamp

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def ms(*args: int, tz: object = UTC) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[arg-type, misc]


# --- levels and timestamps -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("WARN", "warning"),
        ("warning", "warning"),
        ("Err", "error"),
        ("FATAL", "critical"),
        ("crit", "critical"),
        ("emerg", "emergency"),
        ("trace", "debug"),
        ("NOTICE", "notice"),
        (3, "error"),  # syslog severity
        ("6", "info"),
        (50, "error"),  # pino / bunyan
        (60, "critical"),
        (30, "info"),
        ("nonsense", "info"),
        (None, "info"),
        (True, "info"),
    ],
)
def test_levels_are_normalized(raw: object, level: str) -> None:
    assert normalize_level(raw) == level
    assert normalize_level(raw) in LEVELS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T03:04:05Z", ms(2026, 1, 2, 3, 4, 5)),
        ("2026-01-02 03:04:05,250", ms(2026, 1, 2, 3, 4, 5) + 250),
        ("2026-01-02T05:04:05.5+02:00", ms(2026, 1, 2, 3, 4, 5) + 500),
        (1_767_225_600, NOW),  # seconds
        (1_767_225_600.25, NOW + 250),
        (NOW, NOW),  # milliseconds
        (NOW * 1000, NOW),  # microseconds
        (NOW * 1_000_000, NOW),  # nanoseconds
        ("1767225600", NOW),
        ("yesterday", None),
        ("2026-13-45T99:00:00", None),
        (None, None),
    ],
)
def test_timestamps(value: object, expected: int | None) -> None:
    assert parse_timestamp(value) == expected


# --- JSON lines ------------------------------------------------------------------------------


def test_json_line_with_every_known_key() -> None:
    line = (
        '{"@timestamp": "2026-01-02T03:04:05.123Z", "severity": "ERROR", "msg": "payment failed",'
        ' "channel": "billing", "requestId": "req-1", "order": 42, "user": {"id": 7}}'
    )
    assert parse_line(line, NOW) == LogRecord(
        ms(2026, 1, 2, 3, 4, 5) + 123,
        "error",
        "billing",
        "payment failed",
        {"order": 42, "user": {"id": 7}},
        "req-1",
    )


def test_json_line_with_missing_fields_keeps_the_line() -> None:
    record = parse_line('{"event": "cache warmed", "keys": 10}', NOW)
    assert record.ts == NOW and record.level == "info" and record.channel is None
    assert record.message == '{"event": "cache warmed", "keys": 10}'  # searchable, nothing lost
    assert record.context == {"event": "cache warmed", "keys": 10}


def test_json_line_aliases_and_traceback() -> None:
    line = (
        '{"time": 1767225600, "levelname": "CRITICAL", "message": "boom", "name": "app",'
        ' "trace_id": "t-9", "exc_info": "Traceback (most recent call last):\\nValueError: x"}'
    )
    record = parse_line(line, 0)
    assert (record.ts, record.level, record.channel, record.request_id) == (NOW, "critical", "app", "t-9")
    assert record.message == "boom\nTraceback (most recent call last):\nValueError: x"
    assert record.context is None


@pytest.mark.parametrize("line", ['{"level": "error", "msg": "cut off', "{not json}", "[1, 2, 3]", '{"a":'])
def test_bad_json_is_kept_raw(line: str) -> None:
    assert parse_line(line, NOW) == LogRecord(NOW, "info", None, line, None, None)


def test_json_message_that_is_not_a_string() -> None:
    record = parse_line('{"level": 40, "msg": {"k": 1}}', NOW)
    assert (record.level, record.message) == ("warning", '{"k": 1}')


# --- Python logging ----------------------------------------------------------------------------


def test_python_basic_format() -> None:
    assert parse_line("WARNING:app.cache:miss rate high: 40%", NOW) == LogRecord(
        NOW, "warning", "app.cache", "miss rate high: 40%", None, None
    )
    assert parse_line("ERROR::no logger name", NOW).channel is None


@pytest.mark.parametrize(
    ("line", "level", "channel", "message"),
    [
        ("2026-01-02 03:04:05,123 INFO app.db: connected", "info", "app.db", "connected"),
        (
            "2026-01-02 03:04:05,123 - app.db - ERROR - lost: reconnecting",
            "error",
            "app.db",
            "lost: reconnecting",
        ),
        ("2026-01-02T03:04:05.123Z [WARNING] celery.beat: late", "warning", "celery.beat", "late"),
        ("2026-01-02 03:04:05,123 DEBUG no channel here", "debug", None, "no channel here"),
    ],
)
def test_python_asctime_formats(line: str, level: str, channel: str | None, message: str) -> None:
    record = parse_line(line, NOW)
    assert (record.ts, record.level, record.channel, record.message) == (
        ms(2026, 1, 2, 3, 4, 5) + 123,
        level,
        channel,
        message,
    )


def test_celery_format() -> None:
    record = parse_line("[2026-01-02 03:04:05,123: ERROR/ForkPoolWorker-2] Task x raised", NOW)
    assert (record.level, record.channel, record.message) == ("error", "celery", "Task x raised")
    assert record.context == {"process": "ForkPoolWorker-2"}


def test_traceback_lines_join_the_record_before_them() -> None:
    records = parse_lines(
        [
            "2026-01-02 03:04:05,123 ERROR app: request failed",
            "Traceback (most recent call last):",
            '  File "app.py", line 1, in <module>',
            "    1 / 0",
            "ZeroDivisionError: division by zero",
            "",
            "During handling of the above exception, another exception occurred:",
            "Traceback (most recent call last):",
            "RuntimeError: wrapped",
            "INFO:app:next request",
        ],
        NOW,
    )
    assert [r.message.splitlines()[0] for r in records] == ["request failed", "next request"]
    assert records[0].message.splitlines()[-1] == "RuntimeError: wrapped"
    assert len(records[0].message.splitlines()) == 8  # the blank line carries nothing


def test_continuation_without_a_record_before_it_is_kept() -> None:
    records = parse_lines(["  indented orphan", "ValueError: not in a traceback"], NOW)
    assert [r.message for r in records] == ["  indented orphan", "ValueError: not in a traceback"]


# --- syslog --------------------------------------------------------------------------------------


def test_rfc3164_priority_and_tag() -> None:
    record = parse_line("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick", NOW)
    assert record.level == "critical"  # 34 = auth (4) * 8 + critical (2)
    assert record.channel == "su"
    assert record.message == "'su root' failed for lonvick"
    assert record.context == {"facility": "auth", "host": "mymachine", "pid": "230"}
    assert record.ts == ms(2025, 10, 11, 22, 14, 15)  # October is in the past on 2026-01-01: last year


def test_rfc3164_without_priority_as_in_var_log_syslog() -> None:
    record = parse_line("Jan  1 00:00:00 web1 CRON[99]: (root) CMD (run-parts)", NOW + 60_000)
    assert (record.ts, record.level, record.channel) == (NOW, "info", "CRON")
    assert record.context == {"host": "web1", "pid": "99"}


def test_rfc5424_with_structured_data() -> None:
    line = (
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        '[exampleSDID@32473 iut="3" eventSource="App\\"lication" eventID="1011"]'
        '[meta request_id="r-5" note="a \\] b"] \ufeffAn application event log entry'
    )
    record = parse_line(line, NOW)
    assert record.ts == ms(2003, 10, 11, 22, 14, 15) + 3
    assert record.level == "notice"  # 165 = local4 (20) * 8 + notice (5)
    assert record.channel == "evntslog"
    assert record.message == "An application event log entry"
    assert record.request_id == "r-5"
    assert record.context == {
        "facility": "local4",
        "host": "mymachine.example.com",
        "msgid": "ID47",
        "sd": {
            "exampleSDID@32473": {"iut": "3", "eventSource": 'App"lication', "eventID": "1011"},
            "meta": {"request_id": "r-5", "note": "a ] b"},
        },
    }


def test_rfc5424_nil_values() -> None:
    record = parse_line("<11>1 - - - - - -", NOW)
    assert record == LogRecord(NOW, "error", None, "", {"facility": "user"}, None)


# --- access logs ---------------------------------------------------------------------------------


def test_combined_access_log() -> None:
    line = (
        '203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 '
        '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
    )
    record = parse_line(line, NOW)
    assert record.ts == ms(2000, 10, 10, 20, 55, 36)
    assert (record.level, record.channel) == ("info", "access")
    assert record.message == "GET /apache_pb.gif?x=1 HTTP/1.0 200"
    assert record.context == {
        "remote_addr": "203.0.113.9",
        "method": "GET",
        "path": "/apache_pb.gif?x=1",
        "protocol": "HTTP/1.0",
        "status": 200,
        "user": "frank",
        "bytes": 2326,
        "referrer": "http://www.example.com/start.html",
        "agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
    }


@pytest.mark.parametrize("addr", ["2001:db8::1", "::1", "fe80::1ff:fe23:4567:890a"])
def test_access_log_with_ipv6_and_request_time(addr: str) -> None:
    line = f'{addr} - - [02/Jan/2026:03:04:05 +0000] "POST /api/orders HTTP/2.0" 502 - "-" "curl/8.5" 0.250 rid=abc123'
    record = parse_line(line, NOW)
    assert (record.level, record.request_id) == ("error", "abc123")
    assert record.context is not None
    assert record.context["remote_addr"] == addr
    assert record.context["bytes"] == 0
    assert record.context["request_time_ms"] == 250.0
    assert "referrer" not in record.context


@pytest.mark.parametrize(
    ("status", "level"), [(404, "warning"), (499, "warning"), (500, "error"), (301, "info")]
)
def test_access_status_levels(status: int, level: str) -> None:
    line = f'10.0.0.1 - - [02/Jan/2026:03:04:05 +0000] "GET / HTTP/1.1" {status} 5'  # common log format
    assert parse_line(line, NOW).level == level


def test_access_log_with_a_malformed_request() -> None:
    record = parse_line('10.0.0.1 - - [02/Jan/2026:03:04:05 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"', NOW)
    assert record.level == "warning"
    assert record.context is not None and record.context["method"] == "\\x16\\x03\\x01"


# --- anything else -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "just some words",
        "12345",
        "<999>not syslog",
        "[not celery]",
        "ÜNICODE ✓ text",
        "2026-01-02 not a time",
    ],
)
def test_unknown_lines_are_kept_raw(line: str) -> None:
    record = parse_line(line, NOW)
    assert (record.level, record.message) == ("info", line)
    assert record.ts == NOW


def test_blank_lines_are_skipped_and_crlf_stripped() -> None:
    records = parse_lines(["INFO:a:one\r\n", "", "   ", "INFO:a:two\r"], NOW)
    assert [r.message for r in records] == ["one", "two"]
