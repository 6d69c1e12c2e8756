"""Hypothesis properties of the parsers that read the outside world: log lines, durations, MySQL status
rows and InnoDB's deadlock report. Whatever arrives, they answer with a value or a clear ValueError, never
a crash, and what they return keeps what was written."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.logs.parse import LEVELS, normalize_level, parse_line, parse_timestamp
from collectors.mysql.deadlocks import parse_deadlock
from collectors.mysql.status import StatusSample, numeric_status, status_readings
from storage.timeparse import parse_duration

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SAFE_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=200)


# --- log lines ----------------------------------------------------------------------------------


@FAST
@given(SAFE_TEXT)
def test_any_line_parses_to_a_record_with_a_known_level(line: str) -> None:
    record = parse_line(line, now=NOW)
    assert record.level in LEVELS
    assert isinstance(record.ts, int) and record.ts > 0
    assert isinstance(record.message, str)


@FAST
@given(
    message=st.text(
        st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=["Cs"]),
        min_size=1,
        max_size=80,
    ).filter(lambda text: text.strip() == text and "=" not in text and ":" not in text),
    level=st.sampled_from(["debug", "info", "warning", "error", "critical"]),
    at=st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000),  # 2000..2100
)
def test_a_json_line_keeps_its_message_level_and_time(message: str, level: str, at: int) -> None:
    stamp = f"{at / 1000:.3f}"
    line = json.dumps({"ts": float(stamp), "level": level, "message": message})
    record = parse_line(line, now=NOW)
    assert record.level == normalize_level(level)
    assert abs(record.ts - at) <= 1
    assert message in record.message or "***" in record.message  # secrets masking may rewrite a part


@FAST
@given(st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), SAFE_TEXT, st.booleans()))
def test_parse_timestamp_answers_a_time_or_none(value: object) -> None:
    found = parse_timestamp(value)
    assert found is None or isinstance(found, int)


@FAST
@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=True), st.none()))
def test_normalize_level_always_gives_a_known_level(value: object) -> None:
    assert normalize_level(value) in LEVELS


# --- durations ----------------------------------------------------------------------------------

UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "sec": 1000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


@FAST
@given(amount=st.integers(min_value=1, max_value=5000), unit=st.sampled_from(sorted(UNITS_MS)))
def test_a_duration_is_its_amount_times_its_unit(amount: int, unit: str) -> None:
    assert parse_duration(f"{amount}{unit}") == timedelta(milliseconds=amount * UNITS_MS[unit])
    assert parse_duration(f" {amount} {unit} ") == parse_duration(f"{amount}{unit}")


@FAST
@given(SAFE_TEXT)
def test_a_duration_is_positive_or_a_readable_error(text: str) -> None:
    try:
        found = parse_duration(text, name="step")
    except ValueError as exc:
        assert str(exc).startswith("step: ")
    else:
        assert found > timedelta(0)


# --- MySQL status --------------------------------------------------------------------------------

STATUS_NAMES = st.sampled_from(
    [
        "Queries",
        "Com_commit",
        "Com_rollback",
        "Slow_queries",
        "Threads_connected",
        "Aborted_connects",
        "Innodb_row_lock_waits",
        "Innodb_buffer_pool_read_requests",
        "Innodb_buffer_pool_reads",
    ]
)
STATUS_VALUE = st.one_of(
    st.integers(min_value=0, max_value=10**15).map(str),
    st.sampled_from(["ON", "OFF", "", "NULL", "abc"]),
    st.none(),
)


@FAST
@given(st.lists(st.fixed_dictionaries({"Variable_name": STATUS_NAMES, "Value": STATUS_VALUE}), max_size=20))
def test_numeric_status_keeps_exactly_the_numbers(rows: list[dict]) -> None:
    values = numeric_status(rows)
    expected: dict[str, float] = {}
    for row in rows:
        if row["Value"] is not None and re.fullmatch(r"\d+", row["Value"]):
            expected[row["Variable_name"]] = float(row["Value"])
    assert values == expected


@FAST
@given(
    before=st.dictionaries(STATUS_NAMES, st.floats(min_value=0, max_value=1e12), max_size=8),
    growth=st.dictionaries(STATUS_NAMES, st.floats(min_value=-1e6, max_value=1e6), max_size=8),
    seconds=st.floats(min_value=0.5, max_value=600),
)
def test_status_readings_are_finite_and_a_counter_reset_never_goes_negative(
    before: dict, growth: dict, seconds: float
) -> None:
    after = {name: max(0.0, before.get(name, 0.0) + growth.get(name, 0.0)) for name in {*before, *growth}}
    readings = status_readings(
        "db1", StatusSample(at=0.0, values=before), StatusSample(at=seconds, values=after)
    )
    for found in readings:
        assert found.value == found.value and abs(found.value) != float("inf"), found
        assert found.value >= 0, found  # a counter that went down skips the interval
        if found.metric == "mysql.innodb.buffer_pool_hit_percent":
            assert found.value <= 100.0


# --- InnoDB deadlock report ----------------------------------------------------------------------

IDENT = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


def _report(trx: list[tuple[int, int, str, str, str]], victim: int) -> str:
    parts = [
        "=====================================",
        "LATEST DETECTED DEADLOCK",
        "------------------------",
        "2026-01-05 10:11:12 0x7f",
    ]
    for number, (trx_id, thread, table, index, query) in enumerate(trx, start=1):
        parts += [
            f"*** ({number}) TRANSACTION:",
            f"TRANSACTION {trx_id}, ACTIVE 1 sec starting index read",
            f"MySQL thread id {thread}, OS thread handle 1, query id 9 localhost root updating",
            query,
            f"*** ({number}) WAITING FOR THIS LOCK TO BE GRANTED:",
            f"RECORD LOCKS space id 5 page no 3 n bits 72 index {index} of table `shop`.`{table}` trx id {trx_id} lock_mode X locks rec but not gap waiting",
        ]
    parts += [f"*** WE ROLL BACK TRANSACTION ({victim})", "------------", "TRANSACTIONS", "------------", ""]
    return "\n".join(parts)


@FAST
@given(
    trx=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**12),
            st.integers(min_value=1, max_value=10**6),
            IDENT,
            IDENT,
            IDENT.map(lambda word: f"UPDATE {word} SET a = 1 WHERE id = 2"),
        ),
        min_size=2,
        max_size=4,
        unique_by=lambda t: t[0],
    ),
    data=st.data(),
)
def test_a_deadlock_report_gives_back_every_transaction(trx: list, data: st.DataObject) -> None:
    victim = data.draw(st.integers(min_value=1, max_value=len(trx)))
    found = parse_deadlock(_report(trx, victim))
    assert found is not None
    assert found.victim == str(victim)
    assert [t["trx_id"] for t in found.transactions] == [str(t[0]) for t in trx]
    assert [t["thread_id"] for t in found.transactions] == [t[1] for t in trx]
    assert [t["query"] for t in found.transactions] == [t[4] for t in trx]
    assert [t["victim"] for t in found.transactions] == [n == victim for n in range(1, len(trx) + 1)]
    for parsed, (_trx_id, _thread, table, index, _query) in zip(found.transactions, trx, strict=True):
        assert parsed["waits_for"][0]["table"] == f"`shop`.`{table}`"
        assert parsed["waits_for"][0]["index"] == index
    again = parse_deadlock(_report(trx, victim).replace("\n", "\r\n"))
    assert again is not None and found.fingerprint == again.fingerprint


@FAST
@given(st.text(max_size=400))
def test_any_status_text_is_a_deadlock_or_none(text: str) -> None:
    found = parse_deadlock(text)
    assert found is None or isinstance(found.transactions, list)
