"""Alembic environment: runs against the engine handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from storage.schema import metadata

config = context.config

# Full-text search objects are made by hand in migration 0001 (FTS5 on SQLite, FULLTEXT on MySQL);
# autogenerate must not see them as strays to drop.
_HAND_MADE_PREFIXES = ("log_entries_fts", "ft_log_entries_message")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (name or "").startswith(_HAND_MADE_PREFIXES)


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from storage.engine import create_store_engine
        from storage.settings import get_settings

        engine = create_store_engine(get_settings().store_url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
