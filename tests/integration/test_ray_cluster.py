"""The Ray runtime on a real local cluster: a head and two worker nodes, each a `ray start` process
limited to one CPU, stopped at the end of the module whatever happens.

- a file camera gives the same counters and alerts on this machine and on the cluster (the real
  `openlfr run` command, with and without --ray-address);
- only alerts, counters, states and checkpoints cross from a camera actor to the central process;
- a watchlist change reaches running cameras through the object store;
- a deployment of four cameras survives losing a worker node mid-run: the cameras are rescheduled
  and live again, counters continue exactly, every alert is stored exactly once (PostgreSQL as the
  central store when its binaries exist, else SQLite), and the audit chain verifies.

Reference results come from the same clip analysed in this process by the engine alone.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.integration.conftest import FACES

ray = pytest.importorskip("ray")

from openlfr.engine.live import AlertEvent, LiveAnalyser, LiveConfig, alert_id_for  # noqa: E402
from openlfr.engine.matcher import WatchlistIndex  # noqa: E402
from openlfr.engine.pipeline import EngineConfig, FaceEngine  # noqa: E402
from openlfr.engine.sources import open_source  # noqa: E402
from openlfr.runtime.events import CameraState, EventBus  # noqa: E402
from openlfr.runtime.ray_actor import FrameCounts  # noqa: E402
from openlfr.runtime.ray_local import LocalRayCluster  # noqa: E402
from openlfr.runtime.ray_runtime import RayOptions, RayRunner, replay_key  # noqa: E402
from openlfr.runtime.sinks import MemorySink, feed  # noqa: E402
from openlfr.runtime.workers import AlertMsg, CameraSpec, CountEvent, RunInputs, StateEvent, WorkerDone  # noqa: E402
from openlfr.types import AlertRecord, FaceBatch  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.shared_data, pytest.mark.ray]

CLIP = "short_hamilton_clip.mp4"
FPS = 5.0
COUNTED = ("frames_analysed", "faces_detected", "faces_seen", "quality_rejected", "alerts")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    """Head (1 CPU, no cameras) + two analysis nodes (1 CPU each, room for 4 cameras each)."""
    node_data = tmp_path_factory.mktemp("ray-node-data")
    c = LocalRayCluster(
        workers=2,
        cpus_per_node=1,
        head_cpus=1,
        worker_resources={"openlfr_analysis": 4},
        env={"OPENLFR_DATA_DIR": str(node_data)},
    )
    try:
        c.start()
        ray.init(address=c.address, log_to_driver=False, logging_level="WARNING")
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()


def _ray_options(cluster: LocalRayCluster, **kw: Any) -> RayOptions:
    return RayOptions(address=cluster.address, cpus_per_camera=0.25, resources={"openlfr_analysis": 1}, **kw)


@pytest.fixture(scope="module")
def performer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A face crop of the clip's performer (frame 120, found by the real engine, enlarged x2, PNG)."""
    import av
    import cv2
    from PIL import Image
    from tests.conftest import VIDEOS

    clip = VIDEOS / CLIP
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 120:
                img = f.to_ndarray(format="rgb24")
                break
    faces = FaceEngine.from_config().analyse(img, embed="none").faces
    x1, y1, x2, y2 = faces.xyxy[int(faces.areas.argmax())]
    w = x2 - x1
    crop = img[max(0, int(y1 - 0.6 * w)) : int(y2 + 0.6 * w), max(0, int(x1 - 0.6 * w)) : int(x2 + 0.6 * w)]
    crop = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    out = tmp_path_factory.mktemp("performer") / "performer.png"
    Image.fromarray(crop).save(out)
    return out


def _init_store(data_dir: Path, db_url: str | None = None, **settings: Any) -> Any:
    from openlfr.services import watchlists
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database

    st = load_settings(data_dir=data_dir, database_url=db_url, actor="tester", **settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    create_key_file(st.resolved_key_file)
    db = Database(st.db_url)
    db.upgrade()
    db.dispose()
    ctx = AppContext(st)
    return ctx, watchlists


def _enrol(ctx: Any, watchlists: Any, name: str, performer: Path) -> None:
    watchlists.create(ctx, name, "tester")
    res = watchlists.add_person(
        ctx, name, "performer", [performer], "tester", display_name="Performer One", reason="test subject"
    )
    assert res.accepted == 1, res.to_dict()
    for p in sorted(FACES.iterdir()):
        watchlists.add_person(ctx, name, p.name, [p / f"{p.name}_0001.jpg"], "tester", reason="test")


def reference(
    index: WatchlistIndex, threshold: float, clip: Path, **kw: Any
) -> tuple[dict[str, int], list[AlertEvent]]:
    """The clip analysed in this process by the engine alone: counters and alerts."""
    analyser = LiveAnalyser(FaceEngine.from_config(), index, threshold, "ref", LiveConfig(analysis_fps=FPS), **kw)
    src = open_source(str(clip))
    counters: collections.Counter[str] = collections.Counter()
    alerts: list[AlertEvent] = []
    try:
        while (frame := src.read()) is not None:
            res = analyser.process(frame)
            counters.update(res.counters)
            alerts += res.alerts
    finally:
        src.close()
    counters.update(analyser.finish().counters)
    return {k: int(counters.get(k, 0)) for k in COUNTED}, alerts


@pytest.fixture(scope="module")
def cli_watchlist(tmp_path_factory: pytest.TempPathFactory, performer: Path) -> dict[str, Any]:
    """A data dir with watchlist 'wl' (the performer and five LFW people) and the in-process reference."""
    from tests.conftest import VIDEOS

    from openlfr.services.operating_point import default_threshold

    d = tmp_path_factory.mktemp("cli-data")
    ctx, watchlists = _init_store(d)
    _enrol(ctx, watchlists, "wl", performer)
    index, _ = watchlists.load_index(ctx, "wl")
    thr = default_threshold(ctx.engine.embedder)
    counters, alerts = reference(index, thr, VIDEOS / CLIP)
    ctx.close()
    assert counters["alerts"] >= 1 and {a.record.person_id for a in alerts} == {"performer"}
    return {
        "data_dir": d,
        "counters": counters,
        "alerts": {(a.record.track_id, a.record.person_id) for a in alerts},
        "threshold": thr,
    }


# ---------------------------------------------------------------- both runtimes, through the CLI


@pytest.mark.parametrize("runtime", ["local", "ray"])
def test_run_file_camera_on_both_runtimes(
    runtime: str, cli: Any, cli_watchlist: dict[str, Any], videos: Path, request: pytest.FixtureRequest
) -> None:
    extra: list[str] = []
    env = {"OPENLFR_DATA_DIR": str(cli_watchlist["data_dir"])}
    if runtime == "ray":
        c = request.getfixturevalue("cluster")
        extra = ["--ray-address", c.address]
        env.update(OPENLFR_RAY_CPUS_PER_CAMERA="0.25", OPENLFR_RAY_RESOURCES='{"openlfr_analysis": 1}')
    p = cli(
        "run",
        "--watchlist",
        "wl",
        "--source",
        str(videos / CLIP),
        "--json",
        "--analysis-fps",
        str(FPS),
        *extra,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    alerts = [x for x in lines if x["event"] == "alert"]
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["stopped_by"] == "end_of_sources"
    cam = summary["cameras"]["cam1"]
    assert cam["state"] == "ended", cam
    assert {k: cam["counters"].get(k, 0) for k in COUNTED} == cli_watchlist["counters"]
    assert {(a["track_id"], a["person_id"]) for a in alerts} == cli_watchlist["alerts"]
    assert summary["alerts"] == len(alerts)
    if runtime == "ray":
        assert cam["restarts"] == 0 and len(cam["nodes"]) == 1


# ---------------------------------------------------------------- what crosses the network


def _walk(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every value inside a message (dataclass fields, dicts, lists), with its path."""
    yield path, obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _walk(getattr(obj, f.name), f"{path}.{f.name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(k, f"{path}[key]")
            yield from _walk(v, f"{path}[{k!r}]")
    elif isinstance(obj, list | tuple | set):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")


def test_only_alerts_and_counters_leave_the_worker(
    cluster: LocalRayCluster, cli_watchlist: dict[str, Any], videos: Path
) -> None:
    """Every message a camera actor sends is an alert (a record at or above threshold), counters,
    a state or a checkpoint: no array, no FaceBatch, no track summary, no image outside an alert.
    The watchlist starts without the performer; a refresh through the object store adds them and
    the running camera then raises the performer's alert."""
    from openlfr.services import watchlists
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings

    ctx = AppContext(load_settings(data_dir=cli_watchlist["data_dir"], database_url=None, actor="tester"))
    full, _ = watchlists.load_index(ctx, "wl")
    ctx.close()
    keep = [i for i, e in enumerate(full.entries) if e.person_id != "performer"]
    vecs = np.stack([full._index._vecs[r] for r, e in enumerate(full._row_entry) if e in keep])  # type: ignore[attr-defined]
    without = WatchlistIndex(
        vecs, [full.entries[i] for i in keep], list(range(len(keep))), model_id=full.model_id, dim=full._index.dim
    )  # type: ignore[attr-defined]
    assert without.size == full.size - 1
    refreshed: list[float] = []

    def refresh() -> WatchlistIndex | None:
        if refreshed:
            return None
        refreshed.append(time.monotonic())
        return full

    seen: list[tuple[str, Any]] = []
    sink = MemorySink()
    bus = EventBus()
    feed(bus, sink)
    thr = cli_watchlist["threshold"]
    spec = CameraSpec(name="cam1", url=str(videos / CLIP), realtime=True, live=LiveConfig(analysis_fps=FPS))
    runner = RayRunner(
        RunInputs([spec], EngineConfig(), without, thr),
        bus,
        ray=_ray_options(cluster, refresh_s=0.5),
        on_message=lambda cam, m: seen.append((cam, m)),
        index_refresh=refresh,
    )
    summary = runner.run(max_seconds=180)
    assert summary.cameras["cam1"]["state"] == "ended", summary.to_dict()
    assert runner.index_updates == 1
    allowed = (AlertMsg, FrameCounts, CountEvent, StateEvent, WorkerDone)
    assert seen and all(isinstance(m, allowed) for _, m in seen), {type(m).__name__ for _, m in seen}
    for _, msg in seen:
        for path, value in _walk(msg):
            assert not isinstance(value, np.ndarray | np.generic | FaceBatch), (type(msg).__name__, path)
            assert type(value).__name__ not in ("TrackSummary", "Track", "Shot", "Frame", "FrameResult"), path
            if isinstance(value, bytes | bytearray | memoryview):
                assert isinstance(msg, AlertMsg) and path in (".event.record.probe_jpeg", ".event.record.frame_jpeg"), (
                    path
                )
        if isinstance(msg, AlertMsg):
            assert isinstance(msg.event.record, AlertRecord) and msg.event.record.score >= thr
        if isinstance(msg, FrameCounts | CountEvent):
            assert all(isinstance(k, str) and type(v) is int for k, v in msg.deltas.items())
    # the refreshed list reached the running camera: the performer's alert came
    assert {(a.track_id, a.person_id) for a in sink.alerts.values()} == cli_watchlist["alerts"]
    assert {k: summary.cameras["cam1"]["counters"].get(k, 0) for k in COUNTED} == cli_watchlist["counters"]


# ---------------------------------------------------------------- losing a worker node mid-run


@pytest.fixture
def central_db(request: pytest.FixtureRequest) -> str | None:
    """A fresh PostgreSQL database when the server binaries exist (the cluster's central store), else
    None (SQLite)."""
    try:
        return str(request.getfixturevalue("pg_url"))
    except pytest.skip.Exception:
        return None


def test_deployment_survives_losing_a_worker(
    cluster: LocalRayCluster, performer: Path, videos: Path, tmp_path: Path, central_db: str | None
) -> None:
    from openlfr.services import audit_admin, deployments
    from openlfr.services import live as live_service
    from openlfr.services.alerts import list_alerts

    clip = videos / CLIP
    ctx, watchlists = _init_store(
        tmp_path / "central",
        central_db,
        ray_address=cluster.address,
        ray_cpus_per_camera=0.25,
        ray_resources={"openlfr_analysis": 1},
    )
    try:
        _enrol(ctx, watchlists, "standing", performer)
        now = datetime.now(UTC)
        cams = [deployments.CameraSpec(f"cam{i}", str(clip)) for i in range(1, 5)]
        made = deployments.create(
            ctx,
            location="Richard Rodgers Theatre, 226 W 46th St, stage door",
            purpose="test: wanted on warrant",
            planned_start=now - timedelta(minutes=5),
            planned_end=now + timedelta(hours=1),
            actor="tester",
            source_watchlist="standing",
            all_entries_reason="test list",
            cameras=cams,
            legal_basis="test policy",
        )
        dep_id = int(made.id)
        deployments.authorise(ctx, dep_id, "super", "supervisor", officer="Insp. Test")
        plan = deployments.live_plan(ctx, dep_id)
        index, _ = watchlists.load_index(ctx, plan.watchlist)
        ref_counters, ref_alerts = reference(index, plan.threshold, clip)
        assert ref_counters["alerts"] >= 1
        ids = cluster.node_ids()
        assert {"worker1", "worker2"} <= set(ids)

        history: dict[str, list[tuple[float, str]]] = collections.defaultdict(list)
        killed: dict[str, Any] = {}
        handle = live_service.LiveRun()

        def on_state(ev: CameraState) -> None:
            history[ev.camera].append((time.monotonic(), str(ev.state.value)))

        handle.bus.subscribe(CameraState, on_state)

        def killer() -> None:
            """Kill worker1 once its cameras are live and one of them has stored an alert (so the
            replay must not store it again); at the latest 60 s after its cameras went live."""
            deadline = None
            while not killed.get("abandon"):
                time.sleep(0.2)
                r = handle.runner
                if r is None:
                    continue
                mine = [c for c, n in r.placements.items() if n == ids["worker1"]]
                if not mine or not all(r.states[c].value == "live" for c in mine):
                    continue
                deadline = deadline or time.monotonic() + 60
                if any(r.totals[c]["alerts"] for c in mine) or time.monotonic() > deadline:
                    killed.update(
                        cams=mine,
                        t=time.monotonic(),
                        alerted={c: r.totals[c]["alerts"] for c in mine},
                        pids=cluster.kill_worker(cluster.workers[0]),
                    )
                    return

        th = threading.Thread(target=killer, daemon=True)
        th.start()
        opts = live_service.RunOptions(realtime=True, live=LiveConfig(analysis_fps=FPS), max_seconds=200)
        try:
            out = live_service.run_deployment(ctx, dep_id, options=opts, run=handle)
        finally:
            killed["abandon"] = True
            th.join(5)
        runner = handle.runner
        assert isinstance(runner, RayRunner)
        assert killed.get("cams"), f"worker1 never hosted a live camera: {dict(history)}"
        assert out.stopped_by == "end_of_sources", out

        # rescheduled and live again, on the surviving node
        for cam in killed["cams"]:
            after = [s for t, s in history[cam] if t >= killed["t"]]
            assert "connecting" in after and after.index("live") > after.index("connecting"), (cam, history[cam])
            assert out.cameras[cam]["restarts"] >= 1
            assert out.cameras[cam]["nodes"][-1] != ids["worker1"]
        assert all(out.cameras[c]["state"] == "ended" for c in out.cameras), out.cameras

        # counters continue exactly (none lost, none counted twice), in the central store
        from openlfr.services.stats import camera_counters

        with ctx.db.session() as s:
            stored = camera_counters(s, dep_id)
        for cam in out.cameras:
            assert {k: int(stored[cam].get(k, 0)) for k in COUNTED} == ref_counters, (cam, stored[cam])

        # every alert from the clips exactly once, with its deterministic id
        listed = list_alerts(ctx, deployment=dep_id, limit=1000)
        rows = listed.data
        assert listed.count == len(rows)
        got = sorted((a.camera, a.track_id, a.person_id) for a in rows)
        want = sorted((c, a.record.track_id, a.record.person_id) for c in out.cameras for a in ref_alerts)
        assert got == want
        entry = {e.person_id: e.entry_id for e in index.entries}
        uids = {a.alert_uid for a in rows}
        assert uids == {
            alert_id_for(
                f"{dep_id}|{plan.watchlist_id}|{c}|{replay_key(str(clip))}",
                a.record.track_id,
                entry[a.record.person_id],
            )
            for c in out.cameras
            for a in ref_alerts
        }
        assert any(killed["alerted"].values()), "the kill came before any stored alert on that node"

        assert audit_admin.verify(ctx).ok
    finally:
        ctx.close()
        if len([w for w in cluster.workers if w.alive]) < 2:
            cluster.add_worker()
