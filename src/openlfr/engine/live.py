"""The live decision logic, per frame and per track (pure compute; no I/O, no storage).

    frame -> detect (optionally on a region of interest, at a reduced analysis width)
          -> track (boxes; see ``engine.track``)
          -> quality + gate, only for faces whose track may still take a shot
          -> best shots: embed the chosen ones, search the watchlist
          -> fuse the track's shot scores per entry -> AlertRecord when fused >= threshold
             (at most one alert per watchlist entry per track)
          -> track ends <= ttl_s after its last sighting: its shots, embeddings and crops are
             dropped; only counters survive (P1, P2)

An alert carries the alerted face's crop and the context frame, both redacted by inversion (P3,
``engine.privacy.redact``: only the alerted person's face and body region in clear).
Nothing here writes anything; callers (``openlfr.runtime``, ``openlfr.eval``) decide where
alerts and counters go.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import FaceEngine
from openlfr.engine.privacy import annotate
from openlfr.engine.sources import Frame
from openlfr.engine.stages import AlertEvent, Decide, Detect, MakeAlert, SelectShots, Verdict, alert_id_for
from openlfr.engine.track import Shot, ShotPolicy, Track, Tracker, TrackerConfig, get_fusion
from openlfr.types import FaceBatch, Image

__all__ = [
    "DEFAULT_ANALYSIS_WIDTH",
    "AlertEvent",
    "FrameResult",
    "LiveAnalyser",
    "LiveConfig",
    "TrackSummary",
    "alert_id_for",
    "index_in_memory",
]

DEFAULT_ANALYSIS_WIDTH = 640
"""Frames wider than this are detected on a copy scaled to this width (live and retrospective alike):
a 720p frame costs the detector about 3.4x a 640-px one. Alignment and embedding use the full frame."""


class LiveConfig(BaseModel):
    """Per-camera analysis options."""

    model_config = ConfigDict(extra="forbid")

    analysis_fps: float | None = Field(
        None, gt=0, le=120, description="Analyse at most this many frames per second (None: all)."
    )
    analysis_width: int | None = Field(
        DEFAULT_ANALYSIS_WIDTH,
        ge=64,
        le=8192,
        description="Detect on a copy scaled to this width when the frame (or "
        "region of interest) is wider (None: full size). The "
        "detector's minimum face size applies at that scale.",
    )
    roi: tuple[float, float, float, float] | None = Field(
        None,
        description="Region of interest (x1, y1, x2, y2) as fractions of the frame; faces outside it are not detected.",
    )
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    shots: ShotPolicy = Field(default_factory=ShotPolicy)
    decision: Literal["track", "shot"] = Field(
        "track",
        description="'track': one search per track, on the mean of its best shots' embeddings, so the "
        "false-alert rate per face seen is the calibrated one (engine.track); 'shot': "
        "search every shot and fuse the scores (up to max_attempts chances per track).",
    )
    fusion: str = Field(
        "max", description="Fusion rule over a track's shots (engine.track.FUSION_RULES; decision 'shot' only)."
    )
    top_k: int = Field(10, ge=1, le=1000, description="Candidates kept per shot for fusion.")
    suppress_s: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="One alert per person per camera while they stay in view: a watchlist entry that alerted on "
        "this camera less than this many seconds (source time) ago does not alert again; each such "
        "match extends the window. A person walking on gets new tracks when frames are analysed "
        "slowly (a face moves more than a box width between them): without this each track would "
        "alert. 0 turns it off.",
    )
    jpeg_quality: int = Field(90, ge=30, le=100)
    alert_frame: bool = Field(True, description="Attach the (redacted) frame to alerts.")
    keep_scores: bool = Field(
        False,
        description="Evaluation only: keep each track's best fused scores (top 5 "
        "entries) in its summary, for threshold sweeps.",
    )

    @field_validator("roi")
    @classmethod
    def _roi_ok(cls, v: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        if v is not None:
            x1, y1, x2, y2 = v
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise ValueError("roi must be 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1")
        return v

    @field_validator("fusion")
    @classmethod
    def _fusion_ok(cls, v: str) -> str:
        get_fusion(v)
        return v


@dataclass(frozen=True)
class TrackSummary:
    """What survives a track: no image, no embedding."""

    track_id: int
    first_t: float
    last_t: float
    hits: int
    attempts: int
    counted: bool
    passed_quality: bool
    alerted: dict[int, float]
    """entry_id -> fused score at alert."""
    best_scores: dict[int, float] = field(default_factory=dict)
    """Only with ``LiveConfig.keep_scores`` (evaluation): entry_id -> best fused score, top 5."""


@dataclass
class FrameResult:
    t: float
    analysed: bool
    faces: FaceBatch
    alerts: list[AlertEvent] = field(default_factory=list)
    ended: list[TrackSummary] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    _image: Image | None = field(default=None, repr=False)
    _labels: dict[int, str] = field(default_factory=dict, repr=False)

    def preview(self) -> Image | None:
        """The annotated frame, redacted: all mosaic except the people of tracks that alerted."""
        if self._image is None:
            return None
        return annotate(self._image, self.faces.xyxy, alerted=self._labels)

    def release(self) -> None:
        """Drop the frame reference (call once preview is rendered or not needed)."""
        self._image = None


class LiveAnalyser:
    """One camera's decision state. Feed frames in time order with :meth:`process`; call
    :meth:`finish` at the end of a source to close every track."""

    def __init__(
        self,
        engine: FaceEngine,
        index: WatchlistIndex,
        threshold: float,
        camera: str = "camera",
        config: LiveConfig | None = None,
        *,
        watchlist_id: int = 0,
        deployment_id: int | None = None,
        clock: Callable[[Frame], datetime] | None = None,
        alert_key: str | None = None,
    ) -> None:
        self.engine = engine
        self.camera = camera
        self.config = config or LiveConfig()
        self.watchlist_id = watchlist_id
        self.deployment_id = deployment_id
        self.tracker = Tracker(self.config.tracker)
        self.detect = Detect(engine.detector, self.config.roi, self.config.analysis_width)
        self.select_shots = SelectShots(engine, self.config.shots)
        self.decider = Decide(index, threshold, self.config.shots, get_fusion(self.config.fusion), self.config.top_k)
        self._last_analysed_t: float | None = None
        self._last_seen: tuple[float, float] | None = None  # (source t, monotonic) of the last frame
        self._last_t: float | None = None
        self.models = {**engine.model_ids, "fusion": self.config.fusion}
        # Alert ids are derived from (deployment, watchlist, camera, key, track, entry): a runtime
        # that replays a source after a crash passes the same ``alert_key`` and gets the same ids
        # (the store is idempotent on them); without a key every analyser gets a fresh random one.
        self.make_alert = MakeAlert(
            engine.detector,
            self.config,
            f"{deployment_id}|{watchlist_id}|{camera}|{alert_key or uuid.uuid4().hex}",
            clock or (lambda f: datetime.fromtimestamp(f.wall, UTC)),
            {
                "deployment_id": deployment_id,
                "watchlist_id": watchlist_id,
                "camera": camera,
                "threshold": float(threshold),
                "models": self.models,
            },
            index,
        )

    @property
    def index(self) -> WatchlistIndex:
        return self.decider.index

    @property
    def threshold(self) -> float:
        return self.decider.threshold

    @property
    def detect_width(self) -> int | None:
        """Width of the image the detector saw last (after the region of interest and scaling)."""
        return self.detect.width

    # -- helpers ---------------------------------------------------------------------------------

    def _wanted(self, frame: Frame) -> bool:
        fps = self.config.analysis_fps
        if fps is None or self._last_analysed_t is None:
            return True
        # a small tolerance so that 30 fps sampled to 10 fps takes every third frame
        return frame.t - self._last_analysed_t >= (1.0 / fps) * 0.95

    def _summary(self, tr: Track) -> TrackSummary:
        counted = tr.hits >= self.config.tracker.min_hits or bool(tr.alerted)
        return TrackSummary(
            track_id=tr.track_id,
            first_t=tr.first_t,
            last_t=tr.last_t,
            hits=tr.hits,
            attempts=tr.attempts,
            counted=counted,
            passed_quality=tr.passed_any,
            alerted=dict(tr.alerted),
            best_scores=dict(sorted(tr.best_fused.items(), key=lambda kv: -kv[1])[:5])
            if self.config.keep_scores
            else {},
        )

    def _end(self, tracks: list[Track], res: FrameResult) -> None:
        for tr in tracks:
            if self.config.decision == "track" and not tr.decided and tr.shots:
                # a track that left before its decision was due: decide on what it has
                self._raise(self.decider.decide(tr, res.counters), tr, res)
            s = self._summary(tr)
            tr.forget()  # P2: the track's shots, embeddings and crops go now
            res.ended.append(s)
            if s.counted:
                res.counters["faces_seen"] += 1
                if not s.passed_quality:
                    res.counters["quality_rejected"] += 1

    # -- main entry points ------------------------------------------------------------------------

    def expire_idle(self, now_monotonic: float | None = None) -> FrameResult:
        """End tracks whose time is up while no frame arrives (a stalled or reconnecting live
        source): source time is extrapolated from the last frame, so P2's "dropped <= ttl after the
        last sighting" holds without new frames."""
        res = FrameResult(t=self._last_analysed_t or 0.0, analysed=False, faces=FaceBatch.empty())
        if self._last_seen is None or not self.tracker.tracks:
            return res
        t_last, mono_last = self._last_seen
        now = time.monotonic() if now_monotonic is None else now_monotonic
        self._end(self.tracker.expire(t_last + max(0.0, now - mono_last)), res)
        return res

    def process(self, frame: Frame, keep_image: bool = False) -> FrameResult:
        """Analyse one frame (or skip it under ``analysis_fps``). With ``keep_image`` the result
        can render a preview; otherwise no reference to the frame survives the call."""
        self._last_seen = (frame.t, time.monotonic())
        self._last_t = frame.t
        if not self._wanted(frame):
            res = FrameResult(t=frame.t, analysed=False, faces=FaceBatch.empty(frame.size))
            self._end(self.tracker.expire(frame.t), res)
            return res
        self._last_analysed_t = frame.t
        image = frame.image
        detected = self.detect(image)
        faces, ended = self.tracker.update(detected, frame.t)
        res = FrameResult(t=frame.t, analysed=True, faces=faces)
        if self.config.decision == "track":
            lost = self.config.shots.decide_lost_s
            for waiting in self.tracker.tracks.values():  # out of sight before its decision was due: decide now
                if not waiting.decided and waiting.shots and frame.t - waiting.last_t >= lost:
                    self._raise(self.decider.decide(waiting, res.counters), waiting, res)
        res.counters["frames_analysed"] += 1
        res.counters["faces_detected"] += len(faces)
        self._end(ended, res)
        if len(faces):
            self._shots(frame, faces, res, shown=keep_image)
        if keep_image:
            res._image = image
            for j, tid in enumerate(faces.track_id if faces.track_id is not None else []):
                tr = self.tracker.tracks.get(int(tid))
                if tr is not None and tr.alerted:
                    eid = max(tr.alerted, key=lambda e: tr.alerted[e])
                    res._labels[j] = f"{self.make_alert.names.get(eid, ('?', '?'))[1]} {tr.alerted[eid]:.3f}"
        return res

    def _shots(self, frame: Frame, faces: FaceBatch, res: FrameResult, shown: bool = False) -> None:
        """The shots the tracks in view want (``SelectShots``), embedded in one batch; then per shot its track's
        identity check (``Tracker.check_identity``) and decision (``Decide``), and an alert on a verdict."""
        t = frame.t
        assert faces.track_id is not None
        tracks = [self.tracker.tracks[int(i)] for i in faces.track_id]
        batch = self.select_shots(frame.image, faces, tracks, t, shown)
        if batch is None or self.index.size == 0:
            return
        emb = self.engine.embedder.embed(batch.chips)
        per_track = self.config.decision == "track"
        k_top = min(self.config.top_k, self.index.size)
        results = [] if per_track else self.index.search(emb, top_k=k_top, threshold=0.0)
        res.counters["searches"] += 0 if per_track else len(batch.rows)
        seen_ids = {int(i) for i in faces.track_id}
        for n, j in enumerate(batch.rows):
            tr = self.tracker.check_identity(tracks[j], emb[n], t, seen_ids)
            faces.track_id[j] = tr.track_id
            shot = Shot(t=t, quality=float(batch.quality[n]), embedding=emb[n].copy())
            view = (frame, faces.xyxy, j)
            verdict = (
                self.decider.track_shot(tr, shot, view, res.counters)
                if per_track
                else self.decider.fused_shot(tr, shot, results[n], view)
            )
            self._raise(verdict, tr, res)

    def _raise(self, verdict: Verdict | None, tr: Track, res: FrameResult) -> None:
        """An alert on ``verdict`` unless its person alerted on this camera within ``suppress_s``."""
        if verdict is None or self.make_alert.suppressed(verdict.entry_id, verdict.view[0].t, res.counters):
            return
        res.alerts.append(self.make_alert(verdict, tr))
        res.counters["alerts"] += 1
        res.counters["alerts_early"] += int(verdict.early)

    def finish(self) -> FrameResult:
        """End every track (end of a file, or stopping); returns their summaries and counters."""
        res = FrameResult(t=self._last_analysed_t or 0.0, analysed=False, faces=FaceBatch.empty())
        self._end(self.tracker.end_all(), res)
        return res

    def checkpoint(self) -> dict[str, Any] | None:
        """Where a replay of the same source may resume, or None while any track is alive.

        At a quiet point (no live track) the analyser's future depends only on the frames after
        ``t``, the sampling phase and the next track id; this holds no image, embedding or score."""
        if self.tracker.tracks or self._last_t is None:
            return None
        return {"t": self._last_t, "last_analysed_t": self._last_analysed_t, "next_track_id": self.tracker._next_id}

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a :meth:`checkpoint` (feed only frames after ``checkpoint['t']``)."""
        if self.tracker.tracks:
            raise ValueError("restore() needs an analyser without live tracks")
        self._last_t = float(checkpoint["t"])
        la = checkpoint.get("last_analysed_t")
        self._last_analysed_t = None if la is None else float(la)
        self.tracker._next_id = int(checkpoint["next_track_id"])

    def set_index(self, index: WatchlistIndex) -> None:
        """Search a new watchlist index from the next shot on (a refreshed watchlist)."""
        self.make_alert.set_index(index)
        self.decider.index = index

    @property
    def live_tracks(self) -> int:
        return len(self.tracker.tracks)

    def memory_report(self) -> dict[str, Any]:
        """How much biometric state is held right now (for tests of P2)."""
        return {"tracks": len(self.tracker.tracks), "shots": sum(t.attempts for t in self.tracker.tracks.values())}


def index_in_memory(
    engine: FaceEngine, people: Mapping[str, Sequence[Image | Path]], names: dict[str, str] | None = None
) -> tuple[WatchlistIndex, dict[str, list[str]]]:
    """A watchlist index built in memory from photos (evaluation, tests): one entry per person,
    one vector per accepted photo (the main face, gate passed). A photo given as a path is read when
    its turn comes, so a large list does not hold every photo in memory. Returns (index, rejections)."""
    from openlfr.engine.imageio import load_image
    from openlfr.engine.matcher import WatchlistEntryRef
    from openlfr.engine.pipeline import enrol_face

    entries: list[WatchlistEntryRef] = []
    rows: list[int] = []
    vecs: list[np.ndarray] = []
    rejected: dict[str, list[str]] = {}
    for person_id in sorted(people):
        got = 0
        for photo in people[person_id]:
            face = enrol_face(engine, load_image(photo) if isinstance(photo, Path) else photo)
            if face.vector is None:
                rejected.setdefault(person_id, []).append(face.reason or "no face")
                continue
            if got == 0:
                entries.append(
                    WatchlistEntryRef(
                        entry_id=len(entries) + 1, person_id=person_id, name=(names or {}).get(person_id, person_id)
                    )
                )
            vecs.append(face.vector)
            rows.append(len(entries) - 1)
            got += 1
    dim = engine.embedder.dim
    arr = np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32)
    return WatchlistIndex(arr, entries, rows, model_id=engine.embedder.model_id, dim=dim), rejected
