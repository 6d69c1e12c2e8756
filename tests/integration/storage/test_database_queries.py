"""The top-queries table, table growth and the windows of deadlocks/replication, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

import storage
from storage import database as dbstore

NOW = datetime.now(UTC).replace(microsecond=0)


def _digest(digest: str, *, count: int, latency: float, schema: str = "shop", text: str | None = None,
            first_seen: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "schema": schema,
        "digest": digest,
        "digest_text": text or f"select * from t_{digest} where id = ?",
        "sample_query": f"SELECT * FROM t_{digest} WHERE id = 1",
        "first_seen": first_seen or NOW - timedelta(days=30),
        "last_seen": NOW,
        "exec_count": count,
        "total_latency_ms": latency,
        "max_latency_ms": 50.0,
        "rows_examined": count * 100,
        "rows_sent": count,
    }


def _fill(store: storage.Store) -> None:
    """Cumulative snapshots every hour for 9 days: "a" steady at 1 ms/call, "b" steady 1 ms/call a week
    ago and 3 ms/call in the last day, "c" new in the last day (first seen 2 h ago)."""
    for hours_ago in range(9 * 24, -1, -1):
        at = NOW - timedelta(hours=hours_ago)
        n = 9 * 24 - hours_ago + 1  # how many hours of calls so far
        b_latency = 10.0 * n if hours_ago >= 24 else 10.0 * (9 * 24 - 24 + 1) + 30.0 * (24 - hours_ago)
        rows = [_digest("a", count=10 * n, latency=10.0 * n), _digest("b", count=10 * n, latency=b_latency)]
        if hours_ago <= 2:
            rows.append(_digest("c", count=5 * (3 - hours_ago), latency=500.0 * (3 - hours_ago),
                                schema="audit", text="select '<b>x</b>' from c", first_seen=NOW - timedelta(hours=2)))  # fmt: skip
        dbstore.write_digests(store.engine, "db1", rows, at)


def test_query_table_totals_change_and_paging(store: storage.Store) -> None:
    _fill(store)
    table = store.database.query_table(
        target="db1", since=NOW - timedelta(hours=24) + timedelta(minutes=1), until=NOW + timedelta(minutes=1)
    )
    rows = table["rows"].set_index("digest")
    assert table["matching"] == 3
    assert rows.loc["a", "exec_count"] == 240
    assert rows.loc["b", "exec_count"] == 240
    assert rows.loc["a", "avg_latency_ms"] == pytest.approx(1.0)
    assert rows.loc["b", "avg_latency_ms"] == pytest.approx(3.0)
    assert rows.loc["c", "exec_count"] == 15  # new in the window: counted from zero
    assert rows.loc["b", "change"] == "slower by 200 %"
    assert rows.loc["a", "change"] == "same"
    assert rows.loc["c", "change"] == "new"
    assert rows["load_percent"].sum() == pytest.approx(100.0)
    assert list(table["rows"]["digest"]) == ["c", "b", "a"]  # total latency 7500, 720, 240
    assert len(rows.loc["a", "sparkline"]) == 24
    assert rows.loc["a", "p95_latency_ms"] == pytest.approx(1.0)
    assert rows.loc["a", "rows_examined_per_sent"] == pytest.approx(100.0)

    page = store.database.query_table(
        target="db1", since="24h", sort="exec_count", descending=False, offset=1, limit=1
    )
    assert page["matching"] == 3 and len(page["rows"]) == 1
    assert page["rows"]["digest"].iloc[0] in {"a", "b"}
    by_change = store.database.query_table(target="db1", since="24h", sort="change_percent")
    assert by_change["rows"]["digest"].iloc[0] == "b"
    by_p95 = store.database.query_table(target="db1", since="24h", sort="p95_latency_ms")
    assert by_p95["rows"]["digest"].iloc[0] == "c"


def test_query_table_filters_take_text_literally(store: storage.Store) -> None:
    _fill(store)
    only_audit = store.database.query_table(target="db1", since="24h", schema="audit")
    assert list(only_audit["rows"]["digest"]) == ["c"]
    html = store.database.query_table(target="db1", since="24h", text="<B>X</b>")
    assert list(html["rows"]["digest"]) == ["c"]
    for hostile in ("' OR 1=1 --", "%", ".*", "[a-z]"):
        assert store.database.query_table(target="db1", since="24h", text=hostile)["matching"] == 0
    assert store.database.schemas(target="db1") == ["audit", "shop"]
    assert store.database.query_table(target="nope", since="24h")["rows"].empty


def test_query_table_counts_a_restart_from_zero(store: storage.Store) -> None:
    for hours_ago, count in ((3, 100), (2, 150), (1, 20)):  # the server restarted before the last reading
        dbstore.write_digests(
            store.engine,
            "db1",
            [_digest("r", count=count, latency=count * 2.0)],
            NOW - timedelta(hours=hours_ago),
        )
    rows = store.database.query_table(target="db1", since=NOW - timedelta(hours=2, minutes=30), until=NOW)[
        "rows"
    ]
    assert rows["exec_count"].tolist() == [20]  # 50 before the restart are lost, never negative


@pytest.mark.parametrize("bad", [{"sort": "drop table"}, {"limit": 0}, {"offset": -1}])
def test_query_table_bad_arguments_are_named(store: storage.Store, bad: dict[str, Any]) -> None:
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"^{name}:"):
        store.database.query_table(target="db1", since="24h", **bad)


def test_table_growth_per_day(store: storage.Store) -> None:
    frame = pd.DataFrame(
        {
            "ts": [NOW - timedelta(days=2), NOW, NOW - timedelta(days=2), NOW],
            "metric": "mysql.table.size_bytes",
            "host": "db1",
            "labels": [{"target": "db1", "schema": "shop", "table": "orders"}] * 2
            + [{"target": "db1", "schema": "shop", "table": "users"}] * 2,
            "value": [1000.0, 5000.0, 100.0, 100.0],
        }
    )
    store.write(frame)
    tables = store.database.tables(target="db1", since="7d", until=NOW + timedelta(seconds=1))
    assert tables["table"].tolist() == ["orders", "users"]
    assert tables["growth_per_day_bytes"].tolist() == pytest.approx([2000.0, 0.0])
    assert tables["size_bytes"].iloc[0] == 5000.0


def test_query_table_agrees_with_the_per_interval_deltas(store: storage.Store) -> None:
    """The table's window totals (server-side subtraction on MariaDB, index seeks on SQLite) equal the
    sum of per-interval deltas (top_digests) for steady, idle, new, and not-stored-before digests."""
    for hours_ago in range(48, -1, -1):
        at = NOW - timedelta(hours=hours_ago)
        n = 49 - hours_ago
        rows = [_digest("steady", count=7 * n, latency=3.5 * n)]
        if hours_ago % 5 == 0:  # idle most hours: no snapshot in between
            rows.append(_digest("idle", count=2 * n, latency=40.0 * n))
        if hours_ago <= 10:  # first stored inside the window, known to the server for a month
            rows.append(_digest("late", count=1000 + 3 * n, latency=9000.0 + 6.0 * n))
        if hours_ago <= 5:  # first seen by the server inside the window: counts from zero
            rows.append(_digest("fresh", count=4 * (6 - hours_ago), latency=8.0 * (6 - hours_ago),
                                first_seen=NOW - timedelta(hours=5, minutes=30)))  # fmt: skip
        dbstore.write_digests(store.engine, "db1", rows, at)
    since, until = NOW - timedelta(hours=24, minutes=30), NOW + timedelta(minutes=1)
    table = store.database.query_table(target="db1", since=since, until=until, sort="digest_text")["rows"]
    reference = store.database.top_digests(target="db1", since=since, until=until, limit=50)
    got = table.set_index("digest")[["exec_count", "total_latency_ms", "rows_examined"]].astype(float)
    want = reference.set_index("digest")[["exec_count", "total_latency_ms", "rows_examined"]].astype(float)
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_dtype=False)
    assert got.loc["fresh", "exec_count"] == 24  # all of it: new in the window
    assert got.loc["late", "exec_count"] == 30  # from its first stored snapshot, not from zero
    # The sparkline (24 buckets) adds up to the window's latency, and p95 is a per-bucket average.
    for row in table.itertuples():
        assert sum(row.sparkline) == pytest.approx(row.total_latency_ms, rel=1e-6)
    steady = table.set_index("digest").loc["steady"]
    assert steady["p95_latency_ms"] == pytest.approx(0.5)
