"""Integration fixtures: a throwaway PostgreSQL server, both database backends, governance contexts.

PostgreSQL: the server binaries (``initdb``, ``pg_ctl``) are looked up on PATH, in
``OPENLFR_PG_BIN`` and in ``/usr/lib/postgresql/*/bin``. ``initdb`` refuses to run as root, so as
root the server runs as the ``postgres`` system user (``runuser -u postgres``; Debian's
``postgresql`` package creates it). The cluster lives in a private temp dir, listens on a free
loopback port with trust auth for this one process tree, and is stopped at the end of the session.
Tests skip with the reason when no binaries (or, as root, no ``postgres`` user) exist.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_DATA

FACES = TEST_DATA / "faces"


# ---------------------------------------------------------------- PostgreSQL server


def _pg_bin() -> Path | None:
    cands = [os.environ.get("OPENLFR_PG_BIN", "")]
    which = shutil.which("pg_ctl")
    if which:
        cands.append(str(Path(which).resolve().parent))
    cands += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in cands:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    host: str
    port: int
    user: str
    admin_url: str
    ctl: list[str] | None = None
    """``pg_ctl -D DATA`` (with the run-as prefix) and its start options: for tests that stop and
    restart the server (issue 18's store outage)."""
    start_args: list[str] | None = None
    env: dict[str, str] | None = None

    def stop(self) -> None:
        assert self.ctl is not None
        subprocess.run(
            [*self.ctl, "-m", "fast", "-w", "stop"], check=True, capture_output=True, env=self.env, timeout=60
        )

    def start(self) -> None:
        assert self.ctl is not None and self.start_args is not None
        subprocess.run(
            [*self.ctl, *self.start_args, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            env=self.env,
            timeout=90,
        )

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_db(self, dbname: str) -> str:
        self._admin(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)

    def drop_db(self, dbname: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql "
            "(Debian: apt-get install postgresql) or set OPENLFR_PG_BIN"
        )
    prefix: list[str] = []
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(
                "running as root and there is no 'postgres' user to run initdb as "
                "(Debian's postgresql package creates it)"
            )
        run_as = "postgres"
        prefix = ["runuser", "-u", run_as, "--"] if shutil.which("runuser") else []
        if not prefix:
            pytest.skip("running as root without runuser(1) to drop to the postgres user")
    root = Path(tempfile.mkdtemp(prefix="openlfr-pg-"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    sock.mkdir()
    if run_as:
        pw = pwd.getpwnam(run_as)
        for p in (root, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        opts = (
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=60"
        )
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            env=env,
            timeout=90,
        )
    except subprocess.CalledProcessError as exc:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{text}") from exc
    server = PgServer(
        "127.0.0.1",
        port,
        "postgres",
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        ctl=[*prefix, str(bindir / "pg_ctl"), "-D", str(data)],
        start_args=["-l", str(log), "-o", opts],
        env=env,
    )
    try:
        yield server
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            env=env,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


_db_counter = [0]


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server (dropped afterwards)."""
    _db_counter[0] += 1
    name = f"t{os.getpid()}_{_db_counter[0]}_{int(time.time() * 1000) % 100000}"
    yield pg_server.create_db(name)
    pg_server.drop_db(name)


# ---------------------------------------------------------------- both backends


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite in the data dir, else a fresh PostgreSQL database URL."""
    if backend == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def gov_ctx(data_dir: Path, db_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An initialised AppContext (key file, migrated DB) on the parametrised backend."""
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database

    if db_url is not None:
        monkeypatch.setenv("OPENLFR_DATABASE_URL", db_url)
    st = load_settings(data_dir=data_dir, database_url=db_url, actor="tester")
    data_dir.mkdir(parents=True, exist_ok=True)
    create_key_file(st.resolved_key_file)
    db = Database(st.db_url)
    db.upgrade()
    db.dispose()
    ctx = AppContext(st)
    yield ctx
    ctx.close()


# ---------------------------------------------------------------- real enrolled people


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    jpeg: bytes
    width: int
    height: int
    box: dict[str, float]
    quality: dict[str, Any]
    vector: bytes
    model_family: str
    model_id: str
    dim: int


@pytest.fixture(scope="session")
def enrolled_people(tmp_path_factory: pytest.TempPathFactory) -> list[Person]:
    """The first photo of each test identity, enrolled once with the real engine (dlib defaults);
    tests seed watchlists from these rows instead of re-running the engine."""
    from openlfr.services import watchlists
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database
    from openlfr.storage.models import ReferenceEmbedding, ReferenceImage, WatchlistEntry

    d = tmp_path_factory.mktemp("enrol")
    st = load_settings(data_dir=d, database_url=None, actor="tester")
    create_key_file(st.resolved_key_file)
    Database(st.db_url).upgrade()
    ctx = AppContext(st)
    watchlists.create(ctx, "enrol", "tester")
    for p in sorted(FACES.iterdir()):
        res = watchlists.add_person(
            ctx, "enrol", p.name, [p / f"{p.name}_0001.jpg"], "tester", display_name=p.name.replace("_", " ")
        )
        assert res.accepted == 1, res.summary()
    people = []
    with ctx.db.session() as s:
        from sqlalchemy import select

        from openlfr.storage.sealed import unseal

        for e, img, emb in s.execute(
            select(WatchlistEntry, ReferenceImage, ReferenceEmbedding)
            .join(ReferenceImage, ReferenceImage.entry_id == WatchlistEntry.id)
            .join(ReferenceEmbedding, ReferenceEmbedding.image_id == ReferenceImage.id)
            .order_by(WatchlistEntry.person_id)
        ):
            people.append(
                Person(
                    e.person_id,
                    e.display_name,
                    unseal(ctx.cipher, img),
                    img.width,
                    img.height,
                    dict(img.box),
                    dict(img.quality),
                    unseal(ctx.cipher, emb),
                    emb.model_family,
                    emb.model_id,
                    emb.dim,
                )
            )
    ctx.close()
    assert len(people) == 5
    return people


def seed_watchlist(ctx: Any, name: str, people: list[Person]) -> int:
    """A standing watchlist holding ``people`` (encrypted with ctx's key), as enrolment stores them."""
    from openlfr.services.watchlist_integrity import content_hash, reseal
    from openlfr.storage.models import ReferenceEmbedding, ReferenceImage, Watchlist, WatchlistEntry
    from openlfr.storage.sealed import seal

    with ctx.db.session() as s:
        wl = Watchlist(name=name, created_by="tester", embedder_family=people[0].model_family)
        s.add(wl)
        s.flush()
        for p in people:
            e = WatchlistEntry(
                watchlist_id=wl.id, person_id=p.person_id, display_name=p.name, added_by="tester", category="wanted"
            )
            s.add(e)
            img = ReferenceImage(
                entry=e,
                image_enc=b"",
                width=p.width,
                height=p.height,
                box=p.box,
                quality=p.quality,
                content_sha256=content_hash(p.jpeg),
            )
            emb = ReferenceEmbedding(
                model_family=p.model_family,
                model_id=p.model_id,
                dim=p.dim,
                vector_enc=b"",
                content_sha256=content_hash(p.vector),
            )
            img.embeddings.append(emb)
            seal(s, ctx.cipher, img, p.jpeg)
            seal(s, ctx.cipher, emb, p.vector)
        reseal(s, ctx.cipher, wl)
        return int(wl.id)


def make_alert(
    plan: Any,
    ctx: Any,
    person_id: str,
    probe: bytes,
    *,
    alert_id: str | None = None,
    score: float | None = None,
    camera: str | None = None,
    occurred_at: Any = None,
    frame: bytes | None = None,
) -> Any:
    """A real AlertRecord for ``person_id`` on the plan's watchlist (as the matcher builds one)."""
    import uuid
    from datetime import UTC, datetime

    from sqlalchemy import select

    from openlfr.storage.models import WatchlistEntry
    from openlfr.types import AlertRecord

    with ctx.db.session() as s:
        entry_id = s.scalar(
            select(WatchlistEntry.id).where(
                WatchlistEntry.watchlist_id == plan.watchlist_id, WatchlistEntry.person_id == person_id
            )
        )
    assert entry_id is not None, person_id
    return AlertRecord(
        alert_id=alert_id or uuid.uuid4().hex,
        deployment_id=plan.deployment_id,
        watchlist_id=plan.watchlist_id,
        entry_id=int(entry_id),
        person_id=person_id,
        score=plan.threshold + 0.01 if score is None else score,
        threshold=plan.threshold,
        camera=camera or plan.cameras[0].name,
        occurred_at=occurred_at or datetime.now(UTC),
        track_id=7,
        probe_jpeg=probe,
        frame_jpeg=frame,
        box=(10.0, 20.0, 110.0, 140.0),
        models=dict(plan.models),
    )


def labelled_frames(video: Any, truth_file: Any, clip: str) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """The hand-checked frames of ``clip`` (from ``truth_file``'s "frames") and those frames of the video, RGB."""
    import json

    import cv2
    import numpy as np

    truth = [f for f in json.loads(truth_file.read_text())["frames"] if f["clip"] == clip]
    wanted = {f["frame"] for f in truth}
    cap = cv2.VideoCapture(str(video))
    frames: dict[int, Any] = {}
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i in wanted:
            frames[i] = np.ascontiguousarray(bgr[:, :, ::-1])
        i += 1
    cap.release()
    return truth, frames
