"""Database connection and schema management.

SQLite (default, in the data dir): WAL journal, foreign keys on, ``secure_delete`` on so that
deleted biometric rows are overwritten rather than left in free pages, and a WAL checkpoint after
deletions. The database file and its ``-wal``/``-shm`` files are private to the owner (0600, also
tightened on every open of an existing database), a folder created for it is 0700. PostgreSQL
works through the same URL setting.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from openlfr.errors import ConfigError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
BIOMETRIC_TABLES = ("reference_images", "reference_embeddings", "alert_images")
"""Tables whose rows hold ciphertext of faces or embeddings (vacuumed after deletions on PostgreSQL)."""
VACUUM_MODE = "FULL"
"""Plain VACUUM only marks dead tuples' space reusable and leaves their bytes in the page (measured:
9 of 10 deleted ciphertexts still in the files); VACUUM FULL rewrites each table and its TOAST
table into new files and drops the old ones. It locks the table while it runs (these tables are
small: reference photos, embeddings, alert images)."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _restrict_sqlite_files(path: Path) -> None:
    """The database and its WAL/shared-memory files readable by the owner only (0600)."""
    for p in (
        path,
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
        path.with_name(path.name + "-journal"),
    ):
        try:
            if p.exists() and p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError as exc:  # not ours (e.g. a read-only copy): say so, do not fail
            log.warning("cannot make %s private (chmod 600): %s", p, exc)


def _create_private_sqlite(path: Path) -> None:
    """Create the (empty) database file 0600 before SQLite does, so it never exists world-readable;
    SQLite gives the -wal and -shm files the database file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    _restrict_sqlite_files(path)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._sqlite_path: Path | None = None
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            path = url.split("///", 1)[-1].split("?", 1)[0]
            if path and path != ":memory:" and not path.startswith("file:"):
                self._sqlite_path = Path(path)
            if self._sqlite_path is not None:
                _create_private_sqlite(self._sqlite_path)
            kwargs["connect_args"] = {"timeout": 10}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=10)
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except Exception as exc:  # bad URL or missing driver
            raise ConfigError(
                f"cannot use database URL ({exc.__class__.__name__}: {exc})", code="bad_database_url"
            ) from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            if self._sqlite_path is not None:
                sqlite_path = self._sqlite_path
                event.listen(self.engine, "connect", lambda *_: _restrict_sqlite_files(sqlite_path))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on error."""
        with self._sessions() as s, s.begin():
            yield s

    def checkpoint(self, vacuum: bool = True) -> None:
        """After deleting biometric data: SQLite flushes the WAL into the main file and truncates it;
        PostgreSQL vacuums the tables that hold ciphertext, so deleted rows do not linger as dead
        tuples in the table files (see ``BIOMETRIC_TABLES``)."""
        if self.is_sqlite:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif vacuum and self.engine.dialect.name == "postgresql":
            self.vacuum_biometric()

    def vacuum_biometric(self) -> None:
        """PostgreSQL: ``VACUUM FULL`` every table holding ciphertext (and its TOAST table), outside
        any transaction. Failures are logged, not raised: the deletion itself has already committed
        (autovacuum then reclaims the space later, without overwriting it)."""
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                # never hang a request behind a long reader: give up on a table after 10 s
                conn.exec_driver_sql("SET lock_timeout = '10s'")
                for table in BIOMETRIC_TABLES:
                    try:
                        conn.exec_driver_sql(f"VACUUM {VACUUM_MODE} {table}")
                    except Exception as exc:
                        log.warning(
                            "VACUUM %s %s after a biometric deletion failed: %s", VACUUM_MODE, table, type(exc).__name__
                        )
        except Exception:
            log.exception("cannot connect to VACUUM after a biometric deletion")

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision (Alembic). A database already at the
        newest revision is left as it is without importing Alembic (a quarter of a second at every
        command's start)."""
        head = _head_revision()
        if head is not None and self._current_revision() == head:
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _current_revision(self) -> str | None:
        """The revision stamped in ``alembic_version`` (None when absent, empty or not one row)."""
        try:
            if "alembic_version" not in inspect(self.engine).get_table_names():
                return None
            with self.engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
        except Exception:
            return None
        return str(rows[0][0]) if len(rows) == 1 else None

    def is_initialised(self) -> bool:
        return "alembic_version" in inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()


_REVISION_RE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:['\"]([^'\"]+)['\"]|None)\s*$", re.M)


@functools.lru_cache(maxsize=1)
def _head_revision() -> str | None:
    """The single head of the migration scripts, read from their ``revision`` / ``down_revision``
    lines; None (so Alembic decides) when the scripts cannot be read that way or have several heads."""
    revs: set[str] = set()
    downs: set[str] = set()
    for f in sorted((MIGRATIONS / "versions").glob("*.py")):
        if f.name == "__init__.py":
            continue
        found = dict((m.group(1), m.group(2)) for m in _REVISION_RE.finditer(f.read_text("utf-8")))
        if "revision" not in found or found["revision"] is None or "down_revision" not in found:
            return None
        revs.add(found["revision"])
        if found["down_revision"] is not None:
            downs.add(found["down_revision"])
    heads = revs - downs
    return next(iter(heads)) if len(heads) == 1 else None
