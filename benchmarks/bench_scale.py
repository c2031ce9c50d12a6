"""Scale-out figures, printed as one JSON object:

1. ``search``: watchlist search latency, exact (``ExactIndex``, numpy) vs FAISS (the chosen index:
   4-bit PQ fast-scan + exact re-rank; HNSW and IVF-Flat for the record) at 10k / 100k / 1M
   entries of ``--dim``-d random unit vectors (default 512, the dimension of the default embedder
   fr_feature), with the recall of the true nearest entry (exact search's top 1) on queries planted
   near random entries at cosine U(0.5, 0.95); one thread, one query at a time (as the live path
   searches a track's shot), plus build time. The process's peak memory is reported
   (``machine.peak_rss_mib``; about 6 GB at 1M x 512: the vectors, FAISS's copy, one index at a time).
2. ``central_ingest``: alerts per second the central service stores (``StoreAlertSink``: row,
   encrypted probe/frame/reference images, audit event, one transaction each) on SQLite and on
   PostgreSQL (a throwaway local server when its binaries exist).
3. ``analysis``: analysed frames per second over the shared clip set on a local Ray cluster with
   1 vs 2 worker processes (``ray start``, one CPU each, one camera per CPU; the head runs none).

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10000,100000,1000000] [--dim 512] [--skip-ingest]
                                               [--skip-analysis] [--queries 1000]
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one search thread for exact and FAISS alike (set before numpy loads)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import pwd  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
VIDEOS = SHARED / "data" / "videos"
FACES = REPO / "tests" / "data" / "faces"
D = 512
"""Vector dimension (``--dim``)."""


def pct(xs: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(xs), p)), 4)


# ---------------------------------------------------------------- 1. search


def planted_queries(rng: np.random.Generator, base: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    tgt = rng.choice(len(base), n, replace=False)
    cos = rng.uniform(0.5, 0.95, n).astype(np.float32)
    g = rng.standard_normal((n, D), dtype=np.float32)
    g -= (g * base[tgt]).sum(1, keepdims=True) * base[tgt]
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return (cos[:, None] * base[tgt] + np.sqrt(1 - cos**2)[:, None] * g).astype(np.float32), cos


def timed_single(search: Any, q: np.ndarray, n: int, k: int = 10) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        search(q[i : i + 1], k)
        out.append((time.perf_counter() - t) * 1000)
    return out


def recall_of(top: np.ndarray, truth: np.ndarray, cos: np.ndarray) -> dict[str, Any]:
    hit = top == truth
    buckets = {}
    for lo in (0.5, 0.6, 0.7, 0.8, 0.9):
        m = (cos >= lo) & (cos < lo + 0.1)
        buckets[f"{lo:.1f}-{lo + 0.1:.1f}"] = round(float(hit[m].mean()), 5) if m.any() else None
    return {"recall_at_1": round(float(hit.mean()), 5), "misses": int((~hit).sum()), "by_cosine": buckets}


def bench_search(sizes: list[int], n_queries: int, n_latency: int, hnsw_max: int) -> dict[str, Any]:
    import faiss

    from openlfr.engine.index import ExactIndex
    from openlfr.engine.index_faiss import DEFAULT_KIND, FAISS_MIN_ROWS, K_FACTOR, PQ_DIMS, FaissIndex

    faiss.omp_set_num_threads(1)
    out: dict[str, Any] = {
        "dim": D,
        "queries_for_recall": n_queries,
        "queries_for_latency": n_latency,
        "threads": 1,
        "faiss_version": faiss.__version__,
        "chosen": f"{DEFAULT_KIND} (PQ{D // PQ_DIMS}x4fs,RFlat, k_factor {K_FACTOR}) from "
        f"{FAISS_MIN_ROWS} rows; exact below",
        "sizes": {},
    }

    def measure(index: Any, q: np.ndarray, truth: np.ndarray, cos: np.ndarray, build: float) -> dict[str, Any]:
        top = np.concatenate([index.search(q[i : i + 250], 1)[1][:, 0] for i in range(0, len(q), 250)])
        lat = timed_single(index.search, q, n_latency)
        return {
            "build_s": round(build, 2),
            "latency_ms_p50": pct(lat, 50),
            "latency_ms_p95": pct(lat, 95),
            **recall_of(top, truth, cos),
        }

    for n in sizes:
        rng = np.random.default_rng(n)
        base = rng.standard_normal((n, D), dtype=np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        q, cos = planted_queries(rng, base, n_queries)
        row: dict[str, Any] = {}
        t = time.perf_counter()
        exact = ExactIndex(base)
        build = time.perf_counter() - t
        # 50 queries at a time: exact search holds a (queries x N) score matrix and its argpartition (1M: 0.6 GB)
        truth = np.concatenate([exact.search(q[i : i + 50], 1)[1][:, 0] for i in range(0, len(q), 50)])
        lat = timed_single(exact.search, q, n_latency)
        row["exact"] = {
            "build_s": round(build, 3),
            "latency_ms_p50": pct(lat, 50),
            "latency_ms_p95": pct(lat, 95),
            "recall_at_1": 1.0,
        }
        del exact  # its normalised copy of the vectors (2 GB at 1M x 512) goes before FAISS builds its own
        kinds = [DEFAULT_KIND] + (["hnsw"] if n <= hnsw_max else [])
        for kind in kinds:
            t = time.perf_counter()
            index = FaissIndex(base, kind=kind)
            build = time.perf_counter() - t
            row[f"faiss_{kind}"] = measure(index, q, truth, cos, build)
            if kind == "pq-refine":
                row[f"faiss_{kind}"]["code_bytes"] = index.pq_m // 2
            del index
        nlist = int(4 * np.sqrt(n))
        t = time.perf_counter()
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(D), D, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(base[rng.choice(n, min(n, nlist * 40), replace=False)])
        ivf.add(base)
        build = time.perf_counter() - t
        ivf.nprobe = 256
        row[f"faiss_ivfflat_nlist{nlist}_nprobe256"] = measure(ivf, q, truth, cos, build)
        del ivf, base
        out["sizes"][str(n)] = row
        print(f"search {n}: done", file=sys.stderr)
    return out


# ---------------------------------------------------------------- 2. central ingest


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """A PostgreSQL server in a temp dir on a free loopback port (None when no binaries)."""
    import glob

    from openlfr.runtime.ray_local import free_port

    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        cands.insert(0, str(Path(which).parent))
    bindir = next((Path(c) for c in cands if (Path(c) / "initdb").is_file()), None)
    if bindir is None:
        yield None
        return
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="olfr-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    data = root / "data"
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
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=90,
        )
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute('CREATE DATABASE "bench"')
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def ingest_rate(db_url: str | None, n_alerts: int) -> dict[str, Any]:
    from PIL import Image

    from openlfr.services import deployments, watchlists
    from openlfr.services.alerts import StoreAlertSink
    from openlfr.services.context import AppContext
    from openlfr.services.operating_point import default_threshold
    from openlfr.settings import load_settings
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database
    from openlfr.types import AlertRecord

    d = Path(tempfile.mkdtemp(prefix="olfr-ingest-"))
    try:
        st = load_settings(data_dir=d, database_url=db_url, actor="bench")
        create_key_file(st.resolved_key_file)
        db = Database(st.db_url)
        db.upgrade()
        db.dispose()
        ctx = AppContext(st)
        watchlists.create(ctx, "standing", "bench")
        people = sorted(FACES.iterdir())
        for p in people:
            watchlists.add_person(ctx, "standing", p.name, [p / f"{p.name}_0001.jpg"], "bench", reason="bench")
        now = datetime.now(UTC)
        made = deployments.create(
            ctx,
            location="Bench Street 1, outside the station",
            purpose="benchmark",
            planned_start=now - timedelta(minutes=1),
            planned_end=now + timedelta(hours=1),
            actor="bench",
            source_watchlist="standing",
            all_entries_reason="bench",
            cameras=[deployments.CameraSpec("cam1", "rtsp://127.0.0.1/x")],
            legal_basis="Common law policing powers (benchmark)",
        )
        deployments.authorise(ctx, made.id, "super", "supervisor", officer="Insp. Bench")
        plan = deployments.mark_live(ctx, made.id, "bench")
        index, _ = watchlists.load_index(ctx, plan.watchlist)
        thr = default_threshold(ctx.engine.embedder)
        # real pictures: an LFW photo as the probe crop, a frame of a shared clip (else a gradient) as the frame
        probe = (people[0] / f"{people[0].name}_0001.jpg").read_bytes()
        clip = VIDEOS / "short_hamilton_clip.mp4"
        if clip.is_file():
            import av

            with av.open(str(clip)) as c:
                img = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
        else:
            img = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (360, 1, 3))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)
        frame = buf.getvalue()
        sink = StoreAlertSink(ctx, plan.deployment_id, actor="bench")
        entries = index.entries
        recs = [
            AlertRecord(
                alert_id=f"bench-{i}",
                deployment_id=plan.deployment_id,
                watchlist_id=plan.watchlist_id,
                entry_id=entries[i % len(entries)].entry_id,
                person_id=entries[i % len(entries)].person_id,
                score=min(1.0, thr + 0.005),
                threshold=thr,
                camera="cam1",
                occurred_at=datetime.now(UTC),
                track_id=i,
                probe_jpeg=probe,
                frame_jpeg=frame,
                box=(1.0, 2.0, 50.0, 60.0),
            )
            for i in range(n_alerts)
        ]
        sink.submit(recs[0])  # warm up connections and caches
        t = time.perf_counter()
        for r in recs[1:]:
            sink.submit(r)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        for r in recs[1:]:  # the same ids again: idempotent, nothing new stored
            sink.submit(r)
        dup_dt = time.perf_counter() - t
        ctx.close()
        return {
            "alerts": n_alerts - 1,
            "seconds": round(dt, 3),
            "alerts_per_s": round((n_alerts - 1) / dt, 1),
            "duplicate_submits_per_s": round((n_alerts - 1) / dup_dt, 1),
            "probe_bytes": len(probe),
            "frame_bytes": len(frame),
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)


def bench_ingest(n_alerts: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "what": "StoreAlertSink.submit, one transaction per alert, single thread",
        "sqlite": ingest_rate(None, n_alerts),
    }
    print("ingest sqlite: done", file=sys.stderr)
    with throwaway_postgres() as url:
        out["postgresql"] = ingest_rate(url, n_alerts) if url else None
        if url is None:
            out["postgresql_reason"] = "no PostgreSQL server binaries (initdb, pg_ctl) found"
    print("ingest postgresql: done", file=sys.stderr)
    return out


# ---------------------------------------------------------------- 3. analysis on 1 vs 2 workers


def bench_analysis(clips: list[Path], workers: list[int]) -> dict[str, Any]:
    from openlfr.engine.imageio import load_image
    from openlfr.engine.live import index_in_memory
    from openlfr.engine.pipeline import EngineConfig, FaceEngine
    from openlfr.runtime.events import CameraState, EventBus
    from openlfr.runtime.ray_local import LocalRayCluster
    from openlfr.runtime.ray_runtime import RayOptions, RayRunner
    from openlfr.runtime.workers import CameraSpec, RunInputs, SourceState
    from openlfr.services.operating_point import default_threshold

    engine = FaceEngine.from_config()
    people = {p.name: [load_image(p / f"{p.name}_0001.jpg")] for p in sorted(FACES.iterdir())}
    index, _ = index_in_memory(engine, people)
    thr = default_threshold(engine.embedder)
    specs = [CameraSpec(name=f"cam{i + 1}", url=str(c)) for i, c in enumerate(clips)]
    out: dict[str, Any] = {
        "clips": [c.name for c in clips],
        "cameras": len(specs),
        "cpus_per_camera": 1,
        "node_cpus": 1,
        "head_cpus": 0,
        "analysis_fps_cap": None,
    }
    for n in workers:
        node_data = Path(tempfile.mkdtemp(prefix="olfr-node-"))
        with LocalRayCluster(
            workers=n, cpus_per_node=1, head_cpus=0, env={"OPENLFR_DATA_DIR": str(node_data)}
        ) as cluster:
            times: dict[str, list[float]] = {"live": [], "ended": []}

            def on_state(ev: CameraState, times: dict[str, list[float]] = times) -> None:
                if ev.state == SourceState.LIVE:
                    times["live"].append(time.monotonic())

            bus = EventBus()
            bus.subscribe(CameraState, on_state)
            runner = RayRunner(
                RunInputs(specs, EngineConfig(), index, thr),
                bus,
                ray=RayOptions(address=cluster.address, cpus_per_camera=1),
            )
            t = time.monotonic()
            summary = runner.run(max_seconds=900)
            wall = time.monotonic() - t
            frames = sum(int(c["counters"].get("frames_analysed", 0)) for c in summary.cameras.values())
            out[f"workers_{n}"] = {
                "frames_analysed": frames,
                "wall_s": round(wall, 2),
                "frames_per_s": round(frames / wall, 2),
                "states": sorted({c["state"] for c in summary.cameras.values()}),
            }
        shutil.rmtree(node_data, ignore_errors=True)
        print(f"analysis {n} worker(s): done", file=sys.stderr)
    if len(workers) == 2 and all(f"workers_{n}" in out for n in workers):
        a, b = (out[f"workers_{n}"]["frames_per_s"] for n in workers)
        out["speedup"] = round(b / a, 2) if a else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=512, help="vector dimension (the default embedder's; 512)")
    ap.add_argument("--queries", type=int, default=1000, help="planted queries for recall")
    ap.add_argument("--latency-queries", type=int, default=200)
    ap.add_argument(
        "--hnsw-max",
        type=int,
        default=100_000,
        help="measure HNSW up to this size (at 1M its build takes many minutes here and its "
        "recall was 0.945: see engine/index_faiss.py)",
    )
    ap.add_argument("--alerts", type=int, default=301)
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-analysis", action="store_true")
    args = ap.parse_args()
    global D
    D = args.dim
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    if not args.skip_search:
        result["search"] = bench_search(
            [int(s) for s in args.sizes.split(",") if s], args.queries, args.latency_queries, args.hnsw_max
        )
    if not args.skip_ingest:
        result["central_ingest"] = bench_ingest(args.alerts)
    if not args.skip_analysis:
        if not VIDEOS.is_dir():
            result["analysis"] = None
            result["analysis_reason"] = f"no clips at {VIDEOS}"
        else:
            from openlfr.engine.sources import probe

            # longest first: Ray starts pending cameras in order, so the two workers end close together
            clips = sorted(
                (p for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".mkv", ".gif")),
                key=lambda p: (-(probe(str(p))["frames"] or 0), p.name),
            )
            result["analysis"] = bench_analysis(clips, [1, 2])
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"]["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
