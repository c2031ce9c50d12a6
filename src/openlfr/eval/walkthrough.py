"""Walk-through evaluation: run the live decision logic over a simulated walk-through video and
score it against its ground truth, per pass (one person crossing the scene once).

- An alert is attributed to the pass whose head box (truth, same frame) contains the alert box's
  centre (the largest overlap if several). It is a *true alert* when its person is that pass's
  person, a *false alert* otherwise (including alerts attributed to no pass).
- TPIR = watchlisted passes with at least one true alert / watchlisted passes.
- FPIR = passes of people not on the watchlist with at least one alert / those passes.
- precision = true alerts / alerts.
- alert latency = time of a pass's first true alert - the pass's first visible frame (s).
Rates carry 95% Clopper-Pearson intervals.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.engine.live import AlertEvent, FrameResult, LiveAnalyser, LiveConfig, TrackSummary
from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import FaceEngine
from openlfr.engine.sources import open_source
from openlfr.errors import InputError
from openlfr.eval.intervals import clopper_pearson


def load_truth(path: Path) -> dict[str, Any]:
    try:
        truth = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the truth JSON ({exc})", code="bad_truth") from exc
    if not isinstance(truth, dict) or "passes" not in truth or "fps" not in truth:
        raise InputError(f"{path}: not a walk-through truth file (no 'passes'/'fps')", code="bad_truth")
    return truth


def draw_fillers(images: Path, truth: dict[str, Any], count: int, photos: int, seed: int = 0) -> dict[str, list[Path]]:
    """Other identities to enrol beside a walk's watchlist (the scale benchmark): ``count`` identities
    (-1: all) drawn with ``seed`` from ``images`` (one folder per identity), none of them a person in the
    walk (listed or stranger), each with its first ``photos`` photos (fewer when it has fewer)."""
    from openlfr.engine.imageio import IMAGE_SUFFIXES

    if not images.is_dir():
        raise InputError(f"filler photo folder {images} not found (pass --filler-images)", code="bad_option")
    if photos < 1:
        raise InputError("--filler-photos must be at least 1", code="bad_option")
    in_walk = {p["person_id"] for p in truth["passes"]} | set(truth.get("identities", []))
    pool: dict[str, list[Path]] = {}
    for d in sorted(images.iterdir()):
        if d.is_dir() and d.name not in in_walk:
            files = [f for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES][:photos]
            if files:
                pool[d.name] = files
    if count == -1:
        count = len(pool)
    if not 0 < count <= len(pool):
        raise InputError(
            f"--fillers must be 1..{len(pool)} (identities in {images} outside the walk) or -1, got {count}",
            code="bad_option",
        )
    rng = np.random.default_rng(seed)
    names = sorted(pool)
    chosen = sorted(rng.choice(len(names), size=count, replace=False).tolist())
    return {names[i]: pool[names[i]] for i in chosen}


def _rate(k: int, n: int) -> dict[str, Any]:
    if n == 0:
        return {"rate": None, "k": 0, "n": 0, "ci": None, "reason": "no such passes"}
    ci = clopper_pearson(k, n)
    return {"rate": k / n, "k": k, "n": n, "ci": None if ci is None else [round(ci[0], 4), round(ci[1], 4)]}


@dataclass(frozen=True)
class WalkthroughResult:
    passes: int
    watchlisted_passes: int
    stranger_passes: int
    detected_passes: int
    true_alert_passes: int
    false_alert_passes: int
    alerts: int
    true_alerts: int
    false_alerts: int
    duplicate_true_alerts: int
    faces_seen: int
    frames: int
    latencies_s: list[float]
    threshold: float
    watchlist_size: int
    config: dict[str, Any]
    models: dict[str, str]
    alert_list: list[dict[str, Any]] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sweep: list[dict[str, Any]] = field(default_factory=list)
    searches: int = 0
    """Watchlist searches made (decision 'track': one per decided track and early look; 'shot': one per shot)."""
    tracks_with_shots: int = 0
    alerts_early: int = 0
    """Alerts decided early (``ShotPolicy.early_margin``), before the track's decision was due."""

    def to_dict(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_s, dtype=np.float64)

        def pct(q: float) -> float | None:
            return round(float(np.percentile(lat, q)), 3) if lat.size else None

        precision = _rate(self.true_alerts, self.alerts)
        if self.alerts == 0:
            precision["reason"] = "no alerts"
        return {
            "passes": self.passes,
            "watchlisted_passes": self.watchlisted_passes,
            "stranger_passes": self.stranger_passes,
            "watchlist_size": self.watchlist_size,
            "threshold": self.threshold,
            "tpir": _rate(self.true_alert_passes, self.watchlisted_passes),
            "fpir": _rate(self.false_alert_passes, self.stranger_passes),
            "precision": precision,
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "false_alerts": self.false_alerts,
            "duplicate_true_alerts": self.duplicate_true_alerts,
            "alert_latency_s": {
                "p50": pct(50),
                "p95": pct(95),
                "max": round(float(lat.max()), 3) if lat.size else None,
                "n": int(lat.size),
            },
            "faces_seen": self.faces_seen,
            "passes_with_a_detection": self.detected_passes,
            "searches": self.searches,
            "tracks_with_shots": self.tracks_with_shots,
            "alerts_early": self.alerts_early,
            "frames": self.frames,
            "seconds": round(self.seconds, 2),
            "missed_watchlisted": self.missed,
            "config": self.config,
            "models": self.models,
            "alert_list": self.alert_list,
            "threshold_sweep": self.sweep,
        }


def _boxes_by_frame(truth: dict[str, Any]) -> dict[int, list[tuple[int, np.ndarray]]]:
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, p in enumerate(truth["passes"]):
        for b in p["boxes"]:
            out.setdefault(int(b[0]), []).append((i, np.asarray(b[1:5], np.float32)))
    return out


def attribute(
    box: tuple[float, float, float, float], frame: int, by_frame: dict[int, list[tuple[int, np.ndarray]]]
) -> int | None:
    """Index of the pass whose head box at ``frame`` (or a neighbouring frame) holds the box centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for f in (frame, frame - 1, frame + 1):
        best: tuple[float, int] | None = None
        for i, b in by_frame.get(f, []):
            if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]:
                ix = max(0.0, min(box[2], b[2]) - max(box[0], b[0])) * max(0.0, min(box[3], b[3]) - max(box[1], b[1]))
                if best is None or ix > best[0]:
                    best = (ix, i)
        if best is not None:
            return best[1]
    return None


def evaluate(
    engine: FaceEngine,
    index: WatchlistIndex,
    threshold: float,
    video: Path,
    truth: dict[str, Any],
    config: LiveConfig | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> WalkthroughResult:
    cfg = (config or LiveConfig()).model_copy(update={"keep_scores": True})
    analyser = LiveAnalyser(engine, index, threshold, camera="walkthrough", config=cfg)
    by_frame = _boxes_by_frame(truth)
    rep = _replay(analyser, video, float(truth["fps"]), by_frame, truth.get("frames"), progress)
    passes = truth["passes"]
    sc = _score_alerts(rep.events, passes, float(truth["fps"]), by_frame)
    wl = [i for i, p in enumerate(passes) if p["watchlisted"]]
    st = [i for i, p in enumerate(passes) if not p["watchlisted"]]
    sweep = threshold_sweep(
        rep.ended, rep.votes, passes, index, grid=[round(threshold + 0.0025 * k, 4) for k in range(-8, 17)]
    )
    return WalkthroughResult(
        passes=len(passes),
        watchlisted_passes=len(wl),
        stranger_passes=len(st),
        detected_passes=len(rep.detected),
        true_alert_passes=sum(1 for i in wl if i in sc.true_passes),
        false_alert_passes=sum(1 for i in st if i in sc.alerted_passes),
        alerts=len(rep.events),
        true_alerts=sc.true_alerts,
        false_alerts=sc.false_alerts,
        duplicate_true_alerts=sc.duplicates,
        faces_seen=sum(1 for s in rep.ended if s.counted),
        frames=rep.frames,
        latencies_s=[sc.true_passes[i] for i in sorted(sc.true_passes)],
        threshold=threshold,
        watchlist_size=index.size,
        config=cfg.model_dump(mode="json"),
        models=analyser.models,
        alert_list=sc.alert_list,
        missed=[passes[i]["person_id"] for i in wl if i not in sc.true_passes],
        seconds=rep.seconds,
        sweep=sweep,
        searches=rep.searches,
        alerts_early=rep.early,
        tracks_with_shots=sum(1 for s in rep.ended if s.attempts > 0),
    )


@dataclass
class _Replay:
    """What the live analyser made of a walk-through video: alerts, ended tracks, and per track the
    passes its detections fall in (votes)."""

    events: list[AlertEvent] = field(default_factory=list)
    ended: list[TrackSummary] = field(default_factory=list)
    detected: set[int] = field(default_factory=set)
    votes: dict[int, dict[int, int]] = field(default_factory=dict)
    frames: int = 0
    searches: int = 0
    early: int = 0
    seconds: float = 0.0

    def add(self, res: FrameResult) -> None:
        self.events.extend(res.alerts)
        self.ended.extend(res.ended)
        self.searches += res.counters["searches"]
        self.early += res.counters["alerts_early"]

    def vote(self, res: FrameResult, k: int, by_frame: dict[int, list[tuple[int, np.ndarray]]]) -> None:
        tids = res.faces.track_id if res.faces.track_id is not None else [-1] * len(res.faces)
        for box, tid in zip(res.faces.xyxy, tids, strict=True):
            i = attribute(tuple(float(v) for v in box), k, by_frame)  # type: ignore[arg-type]
            if i is not None:
                self.detected.add(i)
                v = self.votes.setdefault(int(tid), {})
                v[i] = v.get(i, 0) + 1


def _replay(
    analyser: LiveAnalyser,
    video: Path,
    fps: float,
    by_frame: dict[int, list[tuple[int, np.ndarray]]],
    total: int | None,
    progress: Callable[[int, int | None], None] | None,
) -> _Replay:
    """Run the analyser over every frame of the video, then finish its open tracks."""
    import time

    src = open_source(str(video))
    rep = _Replay()
    t0 = time.perf_counter()
    try:
        while (frame := src.read()) is not None:
            res = analyser.process(frame)
            rep.add(res)
            rep.vote(res, round(frame.t * fps), by_frame)
            rep.frames += 1
            if progress:
                progress(rep.frames, total)
    finally:
        src.close()
    rep.add(analyser.finish())
    rep.seconds = time.perf_counter() - t0
    return rep


@dataclass
class _AlertScore:
    true_passes: dict[int, float]
    """Pass index -> latency of its first true alert (s)."""
    alerted_passes: set[int]
    true_alerts: int
    false_alerts: int
    duplicates: int
    alert_list: list[dict[str, Any]]


def _score_alerts(
    events: list[AlertEvent],
    passes: list[dict[str, Any]],
    fps: float,
    by_frame: dict[int, list[tuple[int, np.ndarray]]],
) -> _AlertScore:
    """Each alert attributed to a pass and judged true (its person is the pass's) or false."""
    first_s = [(p["first_frame"] / fps) if p["first_frame"] is not None else p["start_s"] for p in passes]
    sc = _AlertScore(true_passes={}, alerted_passes=set(), true_alerts=0, false_alerts=0, duplicates=0, alert_list=[])
    for ev in events:
        r = ev.record
        i = attribute(r.box, round(ev.t * fps), by_frame)
        truth_pid = passes[i]["person_id"] if i is not None else None
        ok = truth_pid == r.person_id
        if i is not None:
            sc.alerted_passes.add(i)
        if ok:
            assert i is not None
            sc.true_alerts += 1
            if i in sc.true_passes:
                sc.duplicates += 1
            else:
                sc.true_passes[i] = ev.t - first_s[i]
        else:
            sc.false_alerts += 1
        sc.alert_list.append(
            {
                "t": round(ev.t, 3),
                "person_id": r.person_id,
                "score": r.score,
                "track_id": r.track_id,
                "truth_person_id": truth_pid,
                "true": ok,
                "latency_s": round(ev.t - first_s[i], 3) if ok and i is not None else None,
                "shots": ev.shots,
            }
        )
    return sc


def threshold_sweep(
    ended: list[TrackSummary],
    votes: dict[int, dict[int, int]],
    passes: list[dict[str, Any]],
    index: WatchlistIndex,
    grid: list[float] | None = None,
) -> list[dict[str, Any]]:
    """TPIR and false alerts at other thresholds, from each track's best fused scores (a track is
    attributed to the pass most of its detections fall in). Exact for the ``max`` rule; for other
    rules an approximation (the best fused score over the track's life)."""
    entry_of = {e.person_id: e.entry_id for e in index.entries}
    tracks = []
    for s in ended:
        v = votes.get(s.track_id)
        if not v or not s.best_scores:
            continue
        i = max(v, key=lambda k: v[k])
        mate = entry_of.get(passes[i]["person_id"]) if passes[i]["watchlisted"] else None
        tracks.append((i, mate, s.best_scores))
    wl = [i for i, p in enumerate(passes) if p["watchlisted"]]
    st = [i for i, p in enumerate(passes) if not p["watchlisted"]]
    grid = grid or [round(0.95 + 0.0025 * k, 4) for k in range(17)]
    out = []
    for thr in grid:
        hit: set[int] = set()
        false_alerts = 0
        stranger_alerted: set[int] = set()
        for i, mate, scores in tracks:
            for eid, sc in scores.items():
                if sc < thr:
                    continue
                if eid == mate:
                    hit.add(i)
                else:
                    false_alerts += 1
                    if i in st:
                        stranger_alerted.add(i)
        out.append(
            {
                "threshold": thr,
                "tpir": round(len(hit & set(wl)) / len(wl), 4) if wl else None,
                "false_alerts": false_alerts,
                "fpir": round(len(stranger_alerted) / len(st), 4) if st else None,
            }
        )
    return out
