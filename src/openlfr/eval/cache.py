"""On-disk cache of evaluation embeddings, so that repeated evaluations of the same data are fast.

What it holds: for each evaluation image (identified by the sha256 of its file content) and each
pipeline (detector, aligner options, embedder, face-choice rule: the *model key*), the
embedding of the face chosen for evaluation, or a failure marker, plus the chosen box and its
quality measures. These are embeddings of images a user supplied explicitly for evaluation (for
example LFW), never of passers-by; they live under ``<data_dir>/cache/embeddings`` and
``openlfr eval cache-clear`` deletes them.

Layout: one ``<sha256(model key)[:24]>.npz`` per model key with arrays ``hashes`` (n, S64),
``embedding`` (n, d) float32, ``status`` (n,) int8, ``box`` (n, 4) float32, ``quality`` (n, q)
float32, ``passed`` (n,) bool, ``n_faces`` (n,) int16, and a ``<same>.json`` naming the key.
Writes are atomic (temporary file + ``os.replace``) under an advisory lock; a writer merges what
other processes wrote since it loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.types import QUALITY_FIELDS, FloatArray

log = logging.getLogger(__name__)

# status codes of an evaluation image
DETECTED = 0
"""A detected face was chosen."""
FALLBACK = 1
"""No face detected; the configured fallback (e.g. a centre box) was embedded."""
NO_FACE = 2
"""No face detected and no fallback: a failure to acquire."""
UNREADABLE = 3
"""The file could not be read as an image: a failure to acquire."""

STATUS_NAMES = {DETECTED: "detected", FALLBACK: "fallback", NO_FACE: "no_face", UNREADABLE: "unreadable"}


@dataclass(frozen=True)
class Record:
    """The cached result for one image under one model key."""

    embedding: FloatArray
    status: int
    box: FloatArray
    quality: FloatArray
    passed: bool
    n_faces: int

    @property
    def acquired(self) -> bool:
        return self.status in (DETECTED, FALLBACK)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_root() -> Path:
    from openlfr.settings import load_settings

    return load_settings().cache_dir / "embeddings"


def key_digest(model_key: str) -> str:
    return hashlib.sha256(model_key.encode()).hexdigest()[:24]


class EmbeddingCache:
    """The cache for one model key. Not thread-safe; one instance per process."""

    def __init__(self, model_key: str, dim: int, root: Path | None = None) -> None:
        self.model_key = model_key
        self.dim = dim
        self.root = root if root is not None else default_root()
        self.path = self.root / f"{key_digest(model_key)}.npz"
        self._rows: dict[str, Record] = {}
        self._dirty: dict[str, Record] = {}
        self._load_into(self._rows)

    def _load_into(self, rows: dict[str, Record]) -> None:
        if not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as z:
                hashes = z["hashes"]
                emb, status, box = z["embedding"], z["status"], z["box"]
                quality, passed, n_faces = z["quality"], z["passed"], z["n_faces"]
        except (OSError, KeyError, ValueError) as exc:
            log.warning("embedding cache %s unreadable (%s); ignoring it", self.path.name, exc)
            return
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            log.warning(
                "embedding cache %s has dimension %s, expected %d; ignoring it", self.path.name, emb.shape, self.dim
            )
            return
        for i, h in enumerate(hashes):
            rows[h.decode()] = Record(emb[i], int(status[i]), box[i], quality[i], bool(passed[i]), int(n_faces[i]))

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, h: object) -> bool:
        return h in self._rows

    def get(self, h: str) -> Record | None:
        return self._rows.get(h)

    def put(self, h: str, rec: Record) -> None:
        self._rows[h] = rec
        self._dirty[h] = rec

    @property
    def pending(self) -> int:
        return len(self._dirty)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def flush(self) -> None:
        """Write new records atomically, merged with whatever is on disk now."""
        if not self._dirty:
            return
        with self._lock():
            merged: dict[str, Record] = {}
            self._load_into(merged)
            merged.update(self._rows)
            self._write(merged)
            self._rows = merged
            self._dirty.clear()

    def _write(self, rows: dict[str, Record]) -> None:
        keys = sorted(rows)
        n = len(keys)
        q = len(QUALITY_FIELDS)
        arrays: dict[str, Any] = {
            "hashes": np.array([k.encode() for k in keys], dtype="S64").reshape(n),
            "embedding": np.stack([rows[k].embedding for k in keys]).astype(np.float32).reshape(n, self.dim),
            "status": np.array([rows[k].status for k in keys], dtype=np.int8).reshape(n),
            "box": np.stack([rows[k].box for k in keys]).astype(np.float32).reshape(n, 4)
            if n
            else np.zeros((0, 4), np.float32),
            "quality": np.stack([rows[k].quality for k in keys]).astype(np.float32).reshape(n, q)
            if n
            else np.zeros((0, q), np.float32),
            "passed": np.array([rows[k].passed for k in keys], dtype=bool).reshape(n),
            "n_faces": np.array([rows[k].n_faces for k in keys], dtype=np.int16).reshape(n),
        }
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        meta = self.path.with_suffix(".json")
        if not meta.exists():
            fd, tmpm = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.root)
            with os.fdopen(fd, "w") as fh:
                json.dump({"model_key": json.loads(self.model_key), "dim": self.dim}, fh, indent=1)
            os.replace(tmpm, meta)


def clear(root: Path | None = None) -> dict[str, int]:
    """Delete every cached evaluation embedding. Returns ``{"files": n, "bytes": b}``."""
    r = root if root is not None else default_root()
    files = 0
    size = 0
    if r.is_dir():
        for p in r.rglob("*"):
            if p.is_file():
                files += 1
                size += p.stat().st_size
        shutil.rmtree(r)
    return {"files": files, "bytes": size}


def describe(root: Path | None = None) -> list[dict[str, Any]]:
    """What the cache holds: one entry per model key."""
    r = root if root is not None else default_root()
    out: list[dict[str, Any]] = []
    if not r.is_dir():
        return out
    for p in sorted(r.glob("*.npz")):
        meta = p.with_suffix(".json")
        try:
            key = json.loads(meta.read_text())["model_key"] if meta.is_file() else None
            with np.load(p, allow_pickle=False) as z:
                n = int(z["hashes"].shape[0])
        except (OSError, ValueError, KeyError):
            key, n = None, -1
        out.append({"file": p.name, "images": n, "bytes": p.stat().st_size, "model_key": key})
    return out


def iter_hashes(paths: Iterable[Path]) -> Iterator[str]:
    for p in paths:
        yield file_hash(p)
