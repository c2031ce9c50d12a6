"""The evaluation embedding cache: round trip, merge, atomic writes, clear."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openlfr.eval import cache as C
from openlfr.types import QUALITY_FIELDS

KEY = json.dumps({"detector": "d", "embedder": "e"})


def rec(v: float, status: int = C.DETECTED) -> C.Record:
    return C.Record(
        embedding=np.full(4, v, np.float32),
        status=status,
        box=np.arange(4, dtype=np.float32),
        quality=np.full(len(QUALITY_FIELDS), v, np.float32),
        passed=True,
        n_faces=1,
    )


def test_round_trip(tmp_path):
    c = C.EmbeddingCache(KEY, 4, tmp_path)
    c.put("a" * 64, rec(0.5))
    c.put("b" * 64, rec(np.nan, C.NO_FACE))
    c.flush()
    again = C.EmbeddingCache(KEY, 4, tmp_path)
    assert len(again) == 2
    r = again.get("a" * 64)
    assert r is not None and r.status == C.DETECTED and r.acquired and r.n_faces == 1
    np.testing.assert_array_equal(r.embedding, np.full(4, 0.5, np.float32))
    assert not again.get("b" * 64).acquired
    assert again.get("c" * 64) is None
    # no temporary files left behind; the key is recorded beside the data
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in names if n.startswith(".tmp")] == []
    meta = json.loads(c.path.with_suffix(".json").read_text())
    assert meta["model_key"] == json.loads(KEY)


def test_keys_are_separate(tmp_path):
    a = C.EmbeddingCache(KEY, 4, tmp_path)
    a.put("a" * 64, rec(1.0))
    a.flush()
    b = C.EmbeddingCache(json.dumps({"detector": "other"}), 4, tmp_path)
    assert len(b) == 0 and a.path != b.path


def test_two_writers_merge(tmp_path):
    a = C.EmbeddingCache(KEY, 4, tmp_path)
    b = C.EmbeddingCache(KEY, 4, tmp_path)
    a.put("a" * 64, rec(1.0))
    b.put("b" * 64, rec(2.0))
    a.flush()
    b.flush()
    assert len(C.EmbeddingCache(KEY, 4, tmp_path)) == 2


def test_wrong_dimension_or_corrupt_file_is_ignored(tmp_path):
    a = C.EmbeddingCache(KEY, 4, tmp_path)
    a.put("a" * 64, rec(1.0))
    a.flush()
    assert len(C.EmbeddingCache(KEY, 8, tmp_path)) == 0
    a.path.write_bytes(b"not an npz")
    assert len(C.EmbeddingCache(KEY, 4, tmp_path)) == 0


def test_clear_and_describe(tmp_path):
    root = tmp_path / "embeddings"
    c = C.EmbeddingCache(KEY, 4, root)
    c.put("a" * 64, rec(1.0))
    c.flush()
    info = C.describe(root)
    assert len(info) == 1 and info[0]["images"] == 1 and info[0]["model_key"]["embedder"] == "e"
    res = C.clear(root)
    assert res["files"] >= 2 and res["bytes"] > 0
    assert not root.exists()
    assert C.clear(root) == {"files": 0, "bytes": 0}


def test_content_hash():
    assert C.content_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("status", [C.FALLBACK, C.DETECTED])
def test_acquired_statuses(status):
    assert rec(0.1, status).acquired
