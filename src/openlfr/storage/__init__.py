"""Persistence: SQLAlchemy 2 (SQLite default, PostgreSQL), Alembic migrations, encryption at rest,
and the hash-chained audit log. No function here accepts a ``FaceBatch`` (privacy invariant P1)."""

from openlfr.storage import schema as schema  # every table registered whichever model module is imported
