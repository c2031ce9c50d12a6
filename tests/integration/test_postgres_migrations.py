"""Migrations on SQLite and a real PostgreSQL server: one head, the migrated schema equals the models,
and downgrading to nothing and upgrading again works."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from openlfr.storage.db import MIGRATIONS, Database
from openlfr.storage.models import Base


def _cfg() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(_cfg()).get_heads()
    assert len(heads) == 1, heads


@pytest.fixture
def url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_schema_matches_models_and_round_trips(url: str) -> None:
    db = Database(url)
    db.upgrade()
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == [], diffs
    tables = set(inspect(db.engine).get_table_names())
    assert {"deployments", "deployment_cameras", "alerts", "alert_images", "legal_holds"} <= tables
    cfg = _cfg()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.upgrade()
    assert {"deployments", "alerts"} <= set(inspect(db.engine).get_table_names())
    db.dispose()
