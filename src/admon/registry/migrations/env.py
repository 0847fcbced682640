"""Alembic environment of the admon registry.

Run by :func:`admon.registry.db.upgrade`, which passes the open connection in
``config.attributes["connection"]``; no ``alembic.ini`` or URL is read here.
"""

from __future__ import annotations

from alembic import context

from admon.registry.models import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run admon registry migrations through admon.registry.db.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


# Alembic executes this file with its context configured; a plain import (doctest collection)
# finds no `context.config` and does nothing.
if hasattr(context, "config"):
    run_migrations()
