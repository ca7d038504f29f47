"""Alembic environment: runs on the connection vlmplanner hands over, never on a URL of its own."""

from __future__ import annotations

from alembic import context

from vlmplanner.store.orm import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - vlmplanner always passes a connection
    raise RuntimeError("run migrations through vlmplanner.store.migrate, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
