"""The SQLite database and its -wal/-shm files are 0600 and the data dir 0700, even under a umask
of 022, and an existing world-readable database is tightened when it is opened."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


_WRITE_AND_HOLD = """
import os, sys, time
os.umask(0o022)
from openlfr.settings import load_settings
from openlfr.services.context import AppContext
from openlfr.services import watchlists
ctx = AppContext(load_settings())
watchlists.create(ctx, "modes", "t")
with ctx.db.engine.connect() as conn:  # an open reader keeps -wal and -shm in place
    conn.exec_driver_sql("SELECT count(*) FROM watchlists").all()
    print("HOLDING", flush=True)
    sys.stdin.readline()
"""


def test_database_files_are_private(data_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    old = os.umask(0o022)
    try:
        assert cli("init").returncode == 0
    finally:
        os.umask(old)
    assert _mode(data_dir) == 0o700
    db = data_dir / "openlfr.db"
    assert _mode(db) == 0o600
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITE_AND_HOLD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "HOLDING"
        side = [data_dir / "openlfr.db-wal", data_dir / "openlfr.db-shm"]
        assert all(p.exists() for p in side), list(data_dir.iterdir())
        assert {str(p.name): _mode(p) for p in [db, *side]} == {
            "openlfr.db": 0o600,
            "openlfr.db-wal": 0o600,
            "openlfr.db-shm": 0o600,
        }
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(60)
    assert proc.returncode == 0
    for p in data_dir.iterdir():  # nothing in the data dir is readable by others
        assert not _mode(p) & 0o077, (p, oct(_mode(p)))


def test_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    from openlfr.storage.db import Database

    folder = tmp_path / "new" / "dir"
    db = Database(f"sqlite:///{folder}/x.db")
    db.upgrade()
    db.dispose()
    assert _mode(folder) == 0o700 and _mode(folder / "x.db") == 0o600
    os.chmod(folder / "x.db", 0o644)
    db = Database(f"sqlite:///{folder}/x.db")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1").all()
    assert _mode(folder / "x.db") == 0o600
    db.dispose()
