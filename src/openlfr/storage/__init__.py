"""Persistence: SQLAlchemy 2 (SQLite default, PostgreSQL), Alembic migrations, encryption at rest,
and the hash-chained audit log. No function here accepts a ``FaceBatch`` (privacy invariant P1)."""
