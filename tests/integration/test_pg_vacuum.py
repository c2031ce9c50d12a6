"""PostgreSQL: after biometric rows are deleted, their ciphertext is gone from the tables' files on
disk (main heap and TOAST), not left in dead tuples (OpenLFR vacuums the affected tables; SQLite
uses secure_delete and a WAL checkpoint instead)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from tests.integration.conftest import seed_watchlist

from openlfr.services import watchlists
from openlfr.storage.models import ReferenceEmbedding, ReferenceImage

pytestmark = pytest.mark.postgres


def _files(conn: psycopg.Connection[Any], tables: list[str]) -> list[Path]:
    data_dir = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
    out = []
    for t in tables:
        row = conn.execute(
            "SELECT pg_relation_filepath(%s::regclass), "
            "(SELECT pg_relation_filepath(reltoastrelid) FROM pg_class WHERE oid = %s::regclass)",
            (t, t),
        ).fetchone()
        assert row is not None
        out += [data_dir / p for p in row if p]
    return out


def _disk(conn: psycopg.Connection[Any], files: list[Path]) -> bytes:
    conn.execute("CHECKPOINT")  # write every dirty page to the table files
    blobs = []
    for f in files:
        for seg in sorted(f.parent.glob(f.name + "*")):  # segments .1, .2 and the fsm/vm forks
            blobs.append(seg.read_bytes())
    return b"".join(blobs)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_deleted_ciphertext_leaves_the_table_files(gov_ctx: Any, enrolled_people: list[Any], backend: str) -> None:
    seed_watchlist(gov_ctx, "gone", enrolled_people)
    seed_watchlist(gov_ctx, "kept", enrolled_people[:1])
    with gov_ctx.db.session() as s:
        images = [bytes(b) for b in s.scalars(select(ReferenceImage.image_enc))]
        vectors = [bytes(b) for b in s.scalars(select(ReferenceEmbedding.vector_enc))]
    assert len(images) == 6 and len(vectors) == 6
    url = gov_ctx.settings.db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        files = _files(conn, ["reference_images", "reference_embeddings"])
        disk = _disk(conn, files)
        probes = [c[40:104] for c in images + vectors]
        assert all(p in disk for p in probes), "positive control: ciphertext should be on disk before deletion"
        watchlists.delete_watchlist(gov_ctx, "gone", "tester")
        with gov_ctx.db.session() as s:
            left = {bytes(b)[40:104] for b in s.scalars(select(ReferenceImage.image_enc))} | {
                bytes(b)[40:104] for b in s.scalars(select(ReferenceEmbedding.vector_enc))
            }
        assert len(left) == 2  # the other list is untouched
        after = _files(conn, ["reference_images", "reference_embeddings"])
        disk = _disk(conn, after) + _disk(conn, [f for f in files if f not in after])
    found = [p for p in probes if p not in left and p in disk]
    assert not found, f"{len(found)} deleted ciphertext fragments still in the table files"
    assert all(p in disk for p in left)
