"""Privacy by design (P1, P2, P3) on a real run: people walk past who are on no watchlist.

After `openlfr run`, nothing about them may exist anywhere: no image, crop or embedding in the
data dir, the database, temp files or the logs; only counters (and the audit record of the run)
change. Every stored vector is compared with the walkers' own embeddings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from openlfr.engine.imageio import load_image
from openlfr.engine.live import LiveAnalyser, LiveConfig, index_in_memory
from openlfr.engine.pipeline import FaceEngine, pick_main_face
from openlfr.engine.sources import Frame, open_source

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
FACES = REPO / "tests" / "data" / "faces"
WALKERS = ["Aaron_Peirsol", "Abdullah_Gul", "Adrien_Brody"]
LISTED = ["Al_Gore", "Alejandro_Toledo"]
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _table_counts(db: Path) -> dict[str, int]:
    eng = sa.create_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        names = sa.inspect(c).get_table_names()
        out = {n: int(c.execute(sa.text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one()) for n in names}
    eng.dispose()
    return out


def _all_blobs(db: Path) -> list[bytes]:
    eng = sa.create_engine(f"sqlite:///{db}")
    blobs = []
    with eng.connect() as c:
        for n in sa.inspect(c).get_table_names():
            for row in c.execute(sa.text(f'SELECT * FROM "{n}"')):
                blobs.extend(bytes(v) for v in row if isinstance(v, bytes | memoryview))
    eng.dispose()
    return blobs


@pytest.fixture
def scene(tmp_path: Path, cli) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    images = tmp_path / "walkers"
    for name in WALKERS:
        shutil.copytree(FACES / name, images / name)
    listed = tmp_path / "listed"
    for name in LISTED:
        shutil.copytree(FACES / name, listed / name)
    video, truth = tmp_path / "walk.mp4", tmp_path / "truth.json"
    p = cli(
        "synth",
        "walkthrough",
        "--images",
        str(images),
        "--out",
        str(video),
        "--truth",
        str(truth),
        "--people",
        "3",
        "--watchlisted",
        "0",
        "--size",
        "640x360",
        "--fps",
        "8",
        "--enrol-images",
        "1",
        "--pass-images",
        "2",
        "--seed",
        "3",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    return {"images": images, "listed": listed, "video": video, "truth": truth}


def test_strangers_leave_no_trace(cli, data_dir: Path, scene: dict[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init", check=True)
    cli("watchlist", "create", "wl", check=True)
    cli("watchlist", "import", "wl", str(scene["listed"]), check=True)
    db = data_dir / "openlfr.db"
    files_before = _files(data_dir)
    counts_before = _table_counts(db)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    p = cli(
        "run",
        "--watchlist",
        "wl",
        "--source",
        str(scene["video"]),
        "--json",
        "--threshold",
        "0.95",
        env={"TMPDIR": str(tmpdir), "TMP": str(tmpdir), "TEMP": str(tmpdir)},
    )
    assert p.returncode == 0, p.stderr
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    assert [ln["event"] for ln in lines] == ["summary"]  # no alert
    c = lines[0]["cameras"]["cam1"]["counters"]
    assert c["faces_seen"] >= 3 and c.get("alerts", 0) == 0

    # temp dirs and logs: nothing written, nothing but short state lines logged
    # (onnxruntime leaves a 51-byte session id file, ``.ses``, in TMPDIR: no image, no vector)
    for f in tmpdir.rglob("*"):
        data = f.read_bytes() if f.is_file() else b""
        assert len(data) < 1024 and not any(m in data for m in MAGIC), f
    assert all(len(ln) < 300 for ln in p.stderr.splitlines()), p.stderr
    assert not any(m in p.stderr.encode() or m in p.stdout.encode() for m in MAGIC)

    # data dir: no new file; only the database (and its WAL) and the audit chain's anchor changed
    files_after = _files(data_dir)
    allowed = {"openlfr.db", "openlfr.db-wal", "openlfr.db-shm", "audit-anchor.json"}
    assert set(files_after) - set(files_before) <= allowed
    changed = {f for f in files_after if files_after[f] != files_before.get(f)}
    assert changed <= allowed, changed
    for f in files_after:
        data = (data_dir / f).read_bytes()
        assert not any(m in data for m in MAGIC), f

    # database: only the audit log changed (two events: live.start and live.stop, counters only)
    counts_after = _table_counts(db)
    diff = {
        t: counts_after[t] - counts_before.get(t, 0) for t in counts_after if counts_after[t] != counts_before.get(t)
    }
    assert diff == {"audit_events": 2}, diff
    for blob in _all_blobs(db):
        assert not any(m in blob for m in MAGIC)

    # every stored vector is an enrolled person's, none is a walker's
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings
    from openlfr.storage.models import AuditEvent, ReferenceEmbedding

    ctx = AppContext(load_settings(data_dir=data_dir))
    engine = ctx.engine
    with ctx.db.session() as s:
        from openlfr.storage.sealed import unseal

        stored = np.stack(
            [np.frombuffer(unseal(ctx.cipher, r), "<f4") for r in s.scalars(sa.select(ReferenceEmbedding))]
        )
        audit_text = " ".join(json.dumps(e.details, default=str) for e in s.scalars(sa.select(AuditEvent)))
    ctx.close()

    def embed_folder(root: Path) -> np.ndarray:
        vecs = []
        for f in sorted(root.rglob("*.jpg")):
            a = engine.analyse(load_image(f), embed="none")
            i, _ = pick_main_face(a.faces)
            if i is not None:
                vecs.append(engine.embedder.embed(a.chips[i : i + 1])[0])
        return np.stack(vecs)

    walkers = embed_folder(scene["images"])
    listed = embed_folder(scene["listed"])
    assert len(stored) == len(listed) == 6 and len(walkers) >= 6
    assert ((1 + stored @ listed.T) / 2).max(axis=1).min() > 0.999  # each stored vector is an enrolled photo
    assert ((1 + stored @ walkers.T) / 2).max() < 0.99  # and none is a walker's
    assert len(audit_text) < 5000 and "embedding" not in audit_text


def test_tracks_forget_within_ttl(scene: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """P2: a track's shots and embeddings are held only while it lives (<= 2 s after last sighting)."""
    caplog.set_level(logging.DEBUG)
    engine = FaceEngine.from_config()
    index, _ = index_in_memory(engine, {n: [load_image(f) for f in sorted((FACES / n).iterdir())] for n in LISTED})
    an = LiveAnalyser(engine, index, 0.95, "cam", LiveConfig())
    src = open_source(str(scene["video"]))
    ended = []
    peak_shots = 0
    last = None
    while (f := src.read()) is not None:
        r = an.process(f)
        ended.extend(r.ended)
        peak_shots = max(peak_shots, an.memory_report()["shots"])
        last = f
    assert last is not None and peak_shots >= 1
    blank = np.zeros_like(last.image)
    t = last.t
    for k in range(1, 30):  # 2.9 s of empty street
        r = an.process(Frame(image=blank, t=t + 0.1 * k, wall=last.wall + 0.1 * k, index=last.index + k))
        ended.extend(r.ended)
        if k * 0.1 > 2.05:
            assert an.memory_report() == {"tracks": 0, "shots": 0}
    assert len([s for s in ended if s.counted]) >= 3
    for s in ended:  # summaries hold no array, image or embedding
        assert not any(isinstance(v, np.ndarray | bytes) for v in vars(s).values())
    assert not any(m.decode("latin-1") in caplog.text for m in MAGIC)
    assert os.environ.get("OPENLFR_KEY") is None
