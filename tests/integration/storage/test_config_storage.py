"""``store.config``: typed values, history, reset, all-or-nothing bulk updates, encrypted targets,
and effective settings (environment over stored over default), on SQLite and MariaDB."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import storage
from storage.config import DEFINITIONS, ConfigError
from storage.schema import monitored_targets, system_config
from storage.secrets import SecretBox, SecretError

KEY = "database.collection_interval_seconds"


@pytest.fixture
def config(store: storage.Store) -> storage.Store:
    store.config.use_secret_key(key="test-secret-key-0123456789abcdef")
    return store


def base_settings(**env: object) -> storage.Settings:
    return storage.load_settings(**env)


def test_every_definition_has_a_default_within_its_range_and_a_description() -> None:
    from storage.config import coerce_value

    assert {d.category for d in DEFINITIONS.values()} >= {
        "database", "cache", "logging", "alerts", "dashboard", "security",
    }  # fmt: skip
    for definition in DEFINITIONS.values():
        assert definition.description
        assert coerce_value(definition, definition.default) == definition.default


def test_defaults_until_stored_then_stored_with_history(config: storage.Store) -> None:
    settings = base_settings()
    entry = config.config.get(key=KEY, settings=settings)
    assert (entry.value, entry.source, entry.definition.unit) == (10.0, "default", "s")
    config.config.set(key=KEY, value="3", by="ada")
    entry = config.config.get(key=KEY, settings=settings)
    assert (entry.value, entry.source, entry.updated_by) == (3.0, "stored", "ada")
    config.config.set(key=KEY, value=4, by="bob")
    history = config.config.history(key=KEY)
    assert [(h.old_value, h.new_value, h.changed_by) for h in history] == [
        (3.0, 4.0, "bob"),
        (None, 3.0, "ada"),
    ]
    assert history[0].changed_at.tzinfo is not None


def test_reset_goes_back_to_the_default_and_is_recorded(config: storage.Store) -> None:
    config.config.set(key=KEY, value=30, by="ada")
    entry = config.config.reset(key=KEY, by="ada")
    assert (entry.value, entry.source) == (10.0, "default")
    assert config.config.history(key=KEY)[0].new_value is None
    with config.engine.connect() as conn:
        assert conn.execute(select(system_config)).all() == []


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        (KEY, "ten", "expected a number"),
        (KEY, True, "expected a number"),
        (KEY, 0, "must be at least 1 s"),
        (KEY, 99999, "must be at most 3600 s"),
        ("database.slow_query_threshold_ms", 1.5, "whole number"),
        ("dashboard.default_time_range", "2h", "is not one of"),
        ("database.nope", 1, "unknown configuration key"),
        ("database.connection_warn_percent", 95, "must be below database.connection_critical_percent"),
    ],
)
def test_bad_values_are_refused_with_the_key_and_change_nothing(
    config: storage.Store, key: str, value: object, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        config.config.set(key=key, value=value, by="ada")
    assert str(caught.value).startswith(f"{key}:")
    assert config.config.history() == []


def test_bulk_update_with_one_bad_value_changes_nothing(config: storage.Store) -> None:
    config.config.set(key="cache.collection_interval_seconds", value=20, by="ada")
    with pytest.raises(ConfigError, match=r"alerts\.evaluation_interval_seconds"):
        config.config.bulk_update(
            values={KEY: 5, "cache.collection_interval_seconds": 7, "alerts.evaluation_interval_seconds": 1},
            by="ada",
        )
    assert config.config.stored() == {"cache.collection_interval_seconds": 20.0}
    assert len(config.config.history()) == 1


def test_bulk_update_applies_all_and_checks_pairs_together(config: storage.Store) -> None:
    # Raising both levels past the old critical works only because both change at once.
    entries = config.config.bulk_update(
        values={"database.connection_warn_percent": 92, "database.connection_critical_percent": 97}, by="ada"
    )
    assert [e.value for e in entries] == [92.0, 97.0]
    assert len(config.config.history()) == 2


def test_environment_pins_a_value(config: storage.Store) -> None:
    config.config.set(key=KEY, value=30, by="ada")
    pinned = base_settings(mysql_interval_seconds=2)
    entry = config.config.get(key=KEY, settings=pinned)
    assert (entry.value, entry.source, entry.as_dict()["pinned_by"]) == (
        2,
        "environment",
        "VITALS_MYSQL_INTERVAL_SECONDS",
    )
    assert config.config.effective(settings=pinned, max_age_s=0).mysql_interval_seconds == 2
    assert config.config.effective(settings=base_settings(), max_age_s=0).mysql_interval_seconds == 30


def test_effective_settings_follow_a_change_after_the_cache_age(config: storage.Store) -> None:
    settings = base_settings()
    assert config.config.effective(settings=settings, max_age_s=60).redis_interval_seconds == 10
    config.config.set(key="cache.collection_interval_seconds", value=3, by="ada")
    # Within the cache age the old value may be served; with age 0 the version check sees the change.
    assert config.config.effective(settings=settings, max_age_s=0).redis_interval_seconds == 3
    assert config.config.value(key="cache.collection_interval_seconds", settings=settings, max_age_s=0) == 3


def test_targets_are_encrypted_masked_and_join_the_environment_ones(config: storage.Store) -> None:
    settings = base_settings(redis_urls="redis://127.0.0.1:6379/1")
    target = config.config.add_target(
        kind="mysql", name="orders", url="mysql://app:s3cret-pw@db1:3306/shop", by="ada"
    )
    assert target.shown == "mysql://app:***@db1:3306/shop"
    with config.engine.connect() as conn:
        secret = conn.execute(select(monitored_targets.c.secret)).scalar_one()
    assert "s3cret-pw" not in secret
    assert "s3cret-pw" not in repr(config.config.history())
    listed = config.config.targets(settings=settings)
    assert [(t.kind, t.origin) for t in listed] == [("redis", "environment"), ("mysql", "manual")]
    effective = config.config.effective(settings=settings, max_age_s=0)
    assert effective.mysql_urls == ["mysql://app:s3cret-pw@db1:3306/shop?name=orders"]
    assert effective.redis_urls == ["redis://127.0.0.1:6379/1"]


def test_target_edit_pause_and_remove(config: storage.Store) -> None:
    settings = base_settings()
    target = config.config.add_target(kind="http", name="shop", url="https://shop.example/health", by="ada")
    assert target.id is not None  # stored, not from the environment
    with pytest.raises(ConfigError, match="already exists"):
        config.config.add_target(kind="http", name="shop", url="https://other.example/", by="ada")
    paused = config.config.update_target(target_id=target.id, by="ada", enabled=False)
    assert not paused.enabled
    assert config.config.effective(settings=settings, max_age_s=0).http_checks == []
    config.config.update_target(target_id=target.id, by="ada", enabled=True, name="shop-api", url="")
    assert config.config.effective(settings=settings, max_age_s=0).http_checks == [
        "https://shop.example/health"
    ]
    config.config.remove_target(target_id=target.id, by="ada")
    assert config.config.targets(settings=settings) == []
    keys = [h.key for h in config.config.history()]
    assert keys == ["target.http.shop-api", "target.http.shop", "target.http.shop", "target.http.shop"]


@pytest.mark.parametrize(
    ("kind", "name", "url", "field"),
    [
        ("ftp", "x", "ftp://x", "kind"),
        ("mysql", "", "mysql://db", "name"),
        ("mysql", "a/b", "mysql://db", "name"),
        ("mysql", "x", "redis://db", "url"),
        ("logs", "x", "relative/*.log", "url"),
        ("http", "x", "", "url"),
        ("backup", "x", "backups/*.gz", "url"),
        ("backup", "x", "/var/backups/*.gz?max_age=soon", "url"),
        ("backup", "x", "/var/backups/*.gz?keep=3", "url"),
    ],
)
def test_bad_targets_name_their_field(
    config: storage.Store, kind: str, name: str, url: str, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config.config.add_target(kind=kind, name=name, url=url, by="ada")
    assert caught.value.key == field
    assert config.config.targets(settings=base_settings()) == []


def test_key_rotation_keeps_targets_readable(config: storage.Store) -> None:
    target = config.config.add_target(kind="redis", name="r", url="redis://:pw@127.0.0.1:6379/0", by="ada")
    assert target.id is not None  # stored, not from the environment
    config.config.use_secret_key(
        key="the-new-key-0123456789abcdefghij", older=["test-secret-key-0123456789abcdef"]
    )
    assert config.config.rotate_secrets() == 1
    config.config.use_secret_key(key="the-new-key-0123456789abcdefghij")  # old key gone: still readable
    assert config.config.target_url(target_id=target.id).startswith("redis://:pw@127.0.0.1:6379/0")
    config.config.use_secret_key(key="an-unrelated-key-0123456789abcdef")
    with pytest.raises(SecretError, match="VITALS_SECRET_KEY"):
        config.config.target_url(target_id=target.id)


def test_secret_box_round_trip_and_rotation() -> None:
    old, new = SecretBox("old-key-0123456789"), SecretBox("new-key-0123456789", "old-key-0123456789")
    token = old.encrypt("mysql://u:p@h/db")
    assert new.decrypt(token) == "mysql://u:p@h/db"
    assert SecretBox("new-key-0123456789").decrypt(new.rotate(token)) == "mysql://u:p@h/db"
