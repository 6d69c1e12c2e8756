"""Alembic migrations against the real dialects: complete, idempotent, reversible, in step with schema.py."""

from __future__ import annotations

import pandas as pd
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from storage import Store
from storage.migrate import alembic_config
from storage.schema import log_entries, metadata, samples

SCHEMA_TABLES = set(metadata.tables)
# Full-text search objects are made by hand in the migration (autogenerate cannot express them).
SQLITE_FTS_TABLES = {
    "log_entries_fts",
    "log_entries_fts_config",
    "log_entries_fts_data",
    "log_entries_fts_docsize",
    "log_entries_fts_idx",
}
MYSQL_FULLTEXT_INDEX = "ft_log_entries_message"


def table_names(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_differences(store: Store) -> list[tuple]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def is_fulltext_object(diff: tuple) -> bool:
    kind, obj = diff[0], diff[1]
    if kind == "remove_table":
        return obj.name in SQLITE_FTS_TABLES
    if kind == "remove_index":
        return obj.name == MYSQL_FULLTEXT_INDEX
    return False


def test_upgrade_creates_every_table(store: Store) -> None:
    expected_tables = {
        "series", "samples", "rollup_1m", "rollup_1h", "rollup_state", "users", "audit_log", "log_entries",
        "log_archives", "alerts", "alert_rules", "alert_state_history", "incidents", "incident_events",
        "notification_channels", "notification_deliveries", "query_digests", "health_checks", "system_config",
    }  # fmt: skip
    assert expected_tables <= SCHEMA_TABLES
    extra = SQLITE_FTS_TABLES if store.dialect == "sqlite" else set()
    assert table_names(store) == SCHEMA_TABLES | {"alembic_version"} | extra
    assert current_revision(store) == head_revision()


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    store.write(pd.DataFrame({"ts": [1_704_067_200_000], "metric": ["m"], "host": ["h"], "value": [1.5]}))
    before = {name: inspect(store.engine).get_columns(name) for name in sorted(SCHEMA_TABLES)}
    store.migrate()
    store.migrate()
    assert current_revision(store) == head_revision()
    after = {name: inspect(store.engine).get_columns(name) for name in sorted(SCHEMA_TABLES)}
    assert [[c["name"] for c in cols] for cols in after.values()] == [
        [c["name"] for c in cols] for cols in before.values()
    ]
    with store.engine.connect() as conn:
        assert conn.execute(select(samples.c.value)).scalars().all() == [1.5]
        assert conn.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1


def test_models_match_the_migrated_schema(store: Store) -> None:
    differences = schema_differences(store)
    assert [diff for diff in differences if not is_fulltext_object(diff)] == []
    # The only "differences" are the hand-made full-text objects, and they really are there.
    if store.dialect == "sqlite":
        assert {diff[1].name for diff in differences} == SQLITE_FTS_TABLES
    else:
        assert [(diff[0], diff[1].name) for diff in differences] == [("remove_index", MYSQL_FULLTEXT_INDEX)]


def test_samples_is_a_clustered_series_ts_table(store: Store) -> None:
    inspector = inspect(store.engine)
    assert inspector.get_pk_constraint("samples")["constrained_columns"] == ["series_id", "ts"]
    assert inspector.get_pk_constraint("rollup_1m")["constrained_columns"] == ["series_id", "bucket"]
    assert [fk["referred_table"] for fk in inspector.get_foreign_keys("samples")] == ["series"]
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            for table in ("samples", "rollup_1m", "rollup_1h"):
                ddl = conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": table}
                ).scalar_one()
                assert ddl.rstrip().upper().endswith("WITHOUT ROWID"), table
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        else:
            engine = conn.execute(
                text(
                    "SELECT engine FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'samples'"
                )
            ).scalar_one()
            assert engine == "InnoDB"


def test_series_are_unique_per_metric_host_and_labels(store: Store) -> None:
    inspector = inspect(store.engine)
    unique: set[tuple[str | None, ...]] = {
        tuple(uc["column_names"]) for uc in inspector.get_unique_constraints("series")
    }
    unique |= {tuple(ix["column_names"]) for ix in inspector.get_indexes("series") if ix["unique"]}
    assert ("metric", "host", "labels_hash") in unique


def test_full_text_search_on_log_entries_works(store: Store) -> None:
    rows = [
        {
            "ts": 1,
            "host": "h",
            "source": "app.log",
            "level": "error",
            "message": "upstream connection timeout",
        },
        {"ts": 2, "host": "h", "source": "app.log", "level": "info", "message": "request served quickly"},
    ]
    with store.engine.begin() as conn:
        conn.execute(log_entries.insert(), rows)
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            query = "SELECT rowid FROM log_entries_fts WHERE log_entries_fts MATCH 'timeout'"
        else:
            query = "SELECT id FROM log_entries WHERE MATCH(message) AGAINST ('timeout' IN BOOLEAN MODE)"
        hits = conn.execute(text(query)).scalars().all()
        first_id = conn.execute(select(func.min(log_entries.c.id))).scalar_one()
    assert hits == [first_id]


def test_downgrade_to_base_and_upgrade_again(store: Store) -> None:
    config = alembic_config(store.engine)
    command.downgrade(config, "base")
    assert current_revision(store) is None
    assert table_names(store) <= {"alembic_version"}  # every table, FTS shadow tables included, is gone
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            triggers = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        assert triggers == []

    command.upgrade(config, "head")
    assert current_revision(store) == head_revision()
    extra = SQLITE_FTS_TABLES if store.dialect == "sqlite" else set()
    assert table_names(store) == SCHEMA_TABLES | {"alembic_version"} | extra
    assert [diff for diff in schema_differences(store) if not is_fulltext_object(diff)] == []

    fresh = Store(store.engine)  # the old object's series cache names rows that no longer exist
    fresh.write(pd.DataFrame({"ts": [1_704_067_200_000], "metric": ["m"], "host": ["h"], "value": [2.0]}))
    result = fresh.metrics("m", since="2024-01-01T00:00:00Z", until="2024-01-01T00:01:00Z", every="1min")
    assert result["mean"].tolist() == [2.0]
