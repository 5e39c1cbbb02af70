"""Alembic environment of the syncer ledger.

syncer configures Alembic in code (``syncer.ledger.migrate``) and passes the connection to
migrate in ``config.attributes["connection"]``; without one (offline SQL generation, or a
developer running ``alembic`` by hand) the ``sqlalchemy.url`` option is used.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from syncer.ledger.models import metadata

config = context.config
target_metadata = metadata


def run_with(connection: Connection) -> None:
    """Run the migrations on ``connection``; batch mode lets SQLite alter tables."""
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as own_connection:
        run_with(own_connection)


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
