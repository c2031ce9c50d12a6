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

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from openlfr.engine.imageio import encode_jpeg
from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import FaceEngine
from openlfr.engine.privacy import alert_crop, annotate, neighbours, redact
from openlfr.engine.sources import Frame
from openlfr.engine.track import Shot, ShotPolicy, Track, Tracker, TrackerConfig, get_fusion, shot_score
from openlfr.types import AlertRecord, FaceBatch, Image

DEFAULT_ANALYSIS_WIDTH = 640
"""Frames wider than this are detected on a copy scaled to this width (live and retrospective alike):
a 720p frame costs the detector about 3.4x a 640-px one. Alignment and embedding use the full frame."""


class LiveConfig(BaseModel):
    """Per-camera analysis options."""

    model_config = ConfigDict(extra="forbid")

    analysis_fps: float | None = Field(None, gt=0, le=120,
                                       description="Analyse at most this many frames per second (None: all).")
    analysis_width: int | None = Field(DEFAULT_ANALYSIS_WIDTH, ge=64, le=8192,
                                       description="Detect on a copy scaled to this width when the frame (or "
                                                   "region of interest) is wider (None: full size). The "
                                                   "detector's minimum face size applies at that scale.")
    roi: tuple[float, float, float, float] | None = Field(
        None, description="Region of interest (x1, y1, x2, y2) as fractions of the frame; faces outside "
                          "it are not detected.")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    shots: ShotPolicy = Field(default_factory=ShotPolicy)
    decision: Literal["track", "shot"] = Field(
        "track", description="'track': one search per track, on the mean of its best shots' embeddings, so the "
                             "false-alert rate per face seen is the calibrated one (engine.track); 'shot': "
                             "search every shot and fuse the scores (up to max_attempts chances per track).")
    fusion: str = Field("max", description="Fusion rule over a track's shots (engine.track.FUSION_RULES; "
                                           "decision 'shot' only).")
    top_k: int = Field(10, ge=1, le=1000, description="Candidates kept per shot for fusion.")
    suppress_s: float = Field(
        10.0, ge=0.0, le=3600.0,
        description="One alert per person per camera while they stay in view: a watchlist entry that alerted on "
                    "this camera less than this many seconds (source time) ago does not alert again; each such "
                    "match extends the window. A person walking on gets new tracks when frames are analysed "
                    "slowly (a face moves more than a box width between them): without this each track would "
                    "alert. 0 turns it off.")
    jpeg_quality: int = Field(90, ge=30, le=100)
    alert_frame: bool = Field(True, description="Attach the (redacted) frame to alerts.")
    keep_scores: bool = Field(False, description="Evaluation only: keep each track's best fused scores (top 5 "
                                                 "entries) in its summary, for threshold sweeps.")

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
class AlertEvent:
    """An alert plus what evaluation and the console need beyond the stored record."""

    record: AlertRecord
    name: str
    t: float
    """Source time (s) of the shot that raised it."""
    track_first_t: float
    shots: int


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


def _scale_faces(faces: FaceBatch, sx: float, sy: float, ox: float, oy: float,
                 size: tuple[int, int]) -> FaceBatch:
    if len(faces) == 0:
        return FaceBatch.empty(size)
    xyxy = faces.xyxy * np.array([sx, sy, sx, sy], np.float32) + np.array([ox, oy, ox, oy], np.float32)
    lm = None
    if faces.landmarks is not None:
        lm = faces.landmarks * np.array([sx, sy], np.float32) + np.array([ox, oy], np.float32)
    return faces.replace(xyxy=xyxy, landmarks=lm, image_size=size)


class LiveAnalyser:
    """One camera's decision state. Feed frames in time order with :meth:`process`; call
    :meth:`finish` at the end of a source to close every track."""

    def __init__(self, engine: FaceEngine, index: WatchlistIndex, threshold: float, camera: str = "camera",
                 config: LiveConfig | None = None, *, watchlist_id: int = 0, deployment_id: int | None = None,
                 clock: Callable[[Frame], datetime] | None = None, alert_key: str | None = None) -> None:
        self.engine = engine
        self.index = index
        self.threshold = float(threshold)
        self.camera = camera
        self.config = config or LiveConfig()
        self.watchlist_id = watchlist_id
        self.deployment_id = deployment_id
        self.tracker = Tracker(self.config.tracker)
        self.fusion = get_fusion(self.config.fusion)
        self._names = {e.entry_id: (e.person_id, e.name) for e in index.entries}
        self._last_analysed_t: float | None = None
        self._last_seen: tuple[float, float] | None = None  # (source t, monotonic) of the last frame
        self._last_t: float | None = None
        # Alert ids are derived from (deployment, watchlist, camera, key, track, entry): a runtime
        # that replays a source after a crash passes the same ``alert_key`` and gets the same ids
        # (the store is idempotent on them); without a key every analyser gets a fresh random one.
        self._alert_ns = f"{deployment_id}|{watchlist_id}|{camera}|{alert_key or uuid.uuid4().hex}"
        self._clock = clock or (lambda f: datetime.fromtimestamp(f.wall, UTC))
        self._last_alert_t: dict[int, float] = {}
        """entry_id -> source time of its last alert or suppressed match on this camera (no biometric data)."""
        self.models = {**engine.model_ids, "fusion": self.config.fusion}
        self.detect_width: int | None = None
        """Width of the image the detector saw last (after the region of interest and scaling)."""

    # -- helpers ---------------------------------------------------------------------------------

    def _wanted(self, frame: Frame) -> bool:
        fps = self.config.analysis_fps
        if fps is None or self._last_analysed_t is None:
            return True
        # a small tolerance so that 30 fps sampled to 10 fps takes every third frame
        return frame.t - self._last_analysed_t >= (1.0 / fps) * 0.95

    def _detect(self, image: Image) -> FaceBatch:
        h, w = image.shape[:2]
        ox = oy = 0
        view: np.ndarray = image
        if self.config.roi is not None:
            x1, y1, x2, y2 = self.config.roi
            ox, oy = int(x1 * w), int(y1 * h)
            view = image[oy:int(y2 * h), ox:int(x2 * w)]
        vw = view.shape[1]
        scale = 1.0
        aw = self.config.analysis_width
        if aw is not None and vw > aw:
            scale = vw / aw
            view = cv2.resize(view, (aw, max(1, round(view.shape[0] / scale))), interpolation=cv2.INTER_AREA)
        self.detect_width = int(view.shape[1])
        faces = self.engine.detector.detect(np.ascontiguousarray(view))
        if scale == 1.0 and ox == 0 and oy == 0:
            return faces.replace(image_size=(w, h))
        return _scale_faces(faces, scale, scale, ox, oy, (w, h))

    def _summary(self, tr: Track) -> TrackSummary:
        counted = tr.hits >= self.config.tracker.min_hits or bool(tr.alerted)
        return TrackSummary(track_id=tr.track_id, first_t=tr.first_t, last_t=tr.last_t, hits=tr.hits,
                            attempts=tr.attempts, counted=counted, passed_quality=tr.passed_any,
                            alerted=dict(tr.alerted),
                            best_scores=dict(sorted(tr.best_fused.items(), key=lambda kv: -kv[1])[:5])
                            if self.config.keep_scores else {})

    def _end(self, tracks: list[Track], res: FrameResult) -> None:
        for tr in tracks:
            if self.config.decision == "track" and not tr.decided and tr.shots:
                self._decide(tr, res)  # a track that left before its decision was due: decide on what it has
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
        detected = self._detect(image)
        faces, ended = self.tracker.update(detected, frame.t)
        res = FrameResult(t=frame.t, analysed=True, faces=faces)
        if self.config.decision == "track":
            lost = self.config.shots.decide_lost_s
            for waiting in self.tracker.tracks.values():  # out of sight before its decision was due: decide now
                if not waiting.decided and waiting.shots and frame.t - waiting.last_t >= lost:
                    self._decide(waiting, res)
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
                    res._labels[j] = f"{self._names.get(eid, ('?', '?'))[1]} {tr.alerted[eid]:.3f}"
        return res

    def _shots(self, frame: Frame, faces: FaceBatch, res: FrameResult, shown: bool = False) -> None:
        """Take the shots the tracks in view want: measure quality, embed the chosen, then per track check that
        it is still one person, and decide (``decision="track"``) or search and fuse (``"shot"``)."""
        t = frame.t
        assert faces.track_id is not None
        tracks = [self.tracker.tracks[int(i)] for i in faces.track_id]
        may = self._may_shoot(tracks, t, shown)
        if not may:
            return
        sub = faces.select(np.array(may, np.int64))
        analysis = self.engine.analyse(frame.image, embed="none", faces=sub)
        q = shot_score(analysis.faces.quality) if analysis.faces.quality is not None else np.zeros(len(may))
        chosen: list[int] = []
        for k, j in enumerate(may):
            tr = tracks[j]
            qk = float(q[k])
            tr.best_seen_quality = max(tr.best_seen_quality, qk)
            if not analysis.gate.passed[k]:
                continue
            tr.passed_any = True
            if tr.wants_attempt(t, qk, self.config.shots):
                chosen.append(k)
        if not chosen or self.index.size == 0:
            return
        emb = self.engine.embedder.embed(analysis.chips[chosen])
        per_track = self.config.decision == "track"
        k_top = min(self.config.top_k, self.index.size)
        results = [] if per_track else self.index.search(emb, top_k=k_top, threshold=0.0)
        res.counters["searches"] += 0 if per_track else len(chosen)
        seen_ids = {int(i) for i in faces.track_id}
        for n, k in enumerate(chosen):
            j = may[k]
            tr = self._same_person(tracks[j], emb[n], t, faces, j, seen_ids)
            shot = Shot(t=t, quality=float(q[k]), embedding=emb[n].copy())
            if per_track:
                self._track_shot(tr, shot, frame, faces, j, res)
            else:
                self._fused_shot(tr, shot, results[n], frame, faces, j, res)

    def _may_shoot(self, tracks: list[Track], t: float, shown: bool) -> list[int]:
        """Rows whose track may take a shot now (only those are aligned and measured: the main saving). A track
        that alerted is checked on every analysed frame that is ``shown`` (a preview frame): it is shown in clear
        (P3), so a bystander the tracker hands its box to (a scene cut, someone stepping into the same place) must
        split off before that frame is drawn. On frames nobody sees it is checked every ``refresh_s``, like any
        decided track (enough to send a newcomer to its own decision, and much cheaper with many alerted faces)."""
        policy = self.config.shots
        return [j for j, tr in enumerate(tracks)
                if (tr.decided and tr.alerted and shown)
                or ((t - tr.last_attempt_t >= policy.refresh_s if tr.decided else tr.attempts < policy.max_attempts)
                    and (tr.attempts == 0 or t - tr.last_attempt_t >= policy.min_gap_s))]

    def _same_person(self, tr: Track, e: np.ndarray, t: float, faces: FaceBatch, j: int, seen_ids: set[int]) -> Track:
        """The track this shot belongs to: a new one split off when it is not the person of the track's earlier
        shots (``split_below``), or an earlier track re-identified for a new one; ``faces.track_id`` follows."""
        assert faces.track_id is not None
        if self.config.tracker.split_below is not None and tr.shots:
            prev = float(((1.0 + tr.embeddings() @ e) / 2.0).max())
            if prev < self.config.tracker.split_below:
                tr = self.tracker.split(tr, t)
                faces.track_id[j] = tr.track_id
        if tr.attempts == 0 and tr.hits <= 2:
            merged = self.tracker.reidentify(tr, e, seen_ids)
            if merged is not None:
                tr = merged
                faces.track_id[j] = tr.track_id
        return tr

    def _note_attempt(self, tr: Track, shot: Shot) -> None:
        tr.shots.append(shot)
        tr.last_attempt_t = shot.t
        tr.best_attempt_quality = max(tr.best_attempt_quality, shot.quality)

    def _track_shot(self, tr: Track, shot: Shot, frame: Frame, faces: FaceBatch, j: int, res: FrameResult) -> None:
        """``decision="track"``: keep the shot for the track's template; decide when due, or early when clear."""
        if tr.decided:  # an identity check only (no split above): nothing to search
            tr.last_attempt_t = shot.t
            return
        # the latest shot: what an alert shows if the decision comes once the face has gone (the face that was
        # embedded, not a later sighting the tracker may have given to someone else; memory only, dropped with
        # the track: P2)
        tr.extra["view"] = (frame, faces.xyxy, j)
        self._note_attempt(tr, shot)
        policy = self.config.shots
        if tr.due(shot.t, policy):
            self._decide(tr, res, (frame, faces.xyxy, j))
        elif (margin := tr.early_margin(policy)) is not None:
            self._decide(tr, res, (frame, faces.xyxy, j), early=margin)

    def _fused_shot(self, tr: Track, shot: Shot, matches: list[Any], frame: Frame, faces: FaceBatch, j: int,
                    res: FrameResult) -> None:
        """``decision="shot"``: this shot was searched; fuse its scores with the track's earlier ones and alert on
        an entry the fused score puts at or above the threshold."""
        scores = {m.entry_id: m.score for m in matches}
        floor = 0.0 if len(matches) >= self.index.size else (min(scores.values()) if scores else 0.0)
        self._note_attempt(tr, replace(shot, scores=scores, floor=floor))
        fused = tr.fused(self.fusion)
        for eid, sc in fused.items():
            tr.best_fused[eid] = max(tr.best_fused.get(eid, 0.0), sc)
        ready = [(sc, eid) for eid, sc in fused.items() if sc >= self.threshold and eid not in tr.alerted]
        if not ready:
            return
        sc, eid = max(ready)
        tr.alerted[eid] = sc
        if self._suppressed(eid, frame.t, res):
            return
        res.alerts.append(self._alert(frame, faces.xyxy, j, tr, eid, sc))
        res.counters["alerts"] += 1

    def _decide(self, tr: Track, res: FrameResult, view: tuple[Frame, np.ndarray, int] | None = None,
                early: float | None = None) -> None:
        """The track's one decision (``decision="track"``): search the template of its shots; alert on the best
        entry at or above the threshold, showing ``view`` (now) or the track's best view (at its end).

        ``early``: a look before the decision is due, with its margin (``Track.early_margin``); it decides (and
        alerts) only when the best entry clears the threshold by that margin, else the track stays undecided and
        keeps taking shots."""
        if self.index.size == 0:
            tr.decided = True
            return
        res.counters["searches"] += 1
        k_top = min(self.config.top_k, self.index.size)
        found = self.index.search(tr.template()[None, :], top_k=k_top, threshold=0.0)[0]
        for m in found:
            tr.best_fused[m.entry_id] = max(tr.best_fused.get(m.entry_id, 0.0), m.score)
        bar = self.threshold + (early or 0.0)
        ready = [(m.score, m.entry_id) for m in found if m.score >= bar]
        if early is not None and not ready:
            return
        tr.decided = True
        view = view or tr.extra.get("view")
        if not ready or view is None:
            return
        s, eid = max(ready)
        tr.alerted[eid] = s
        frame, boxes, row = view
        if self._suppressed(eid, frame.t, res):
            return
        res.alerts.append(self._alert(frame, boxes, row, tr, eid, s))
        res.counters["alerts"] += 1
        res.counters["alerts_early"] += int(early is not None)

    def _suppressed(self, entry_id: int, t: float, res: FrameResult) -> bool:
        """Whether this entry alerted (or was suppressed) on this camera within ``suppress_s``; records ``t``."""
        window = self.config.suppress_s
        last = self._last_alert_t.get(entry_id)
        self._last_alert_t[entry_id] = t
        if window > 0 and last is not None and t - last < window:
            res.counters["alerts_suppressed"] += 1
            return True
        return False

    def _alert(self, frame: Frame, boxes: np.ndarray, row: int, tr: Track, entry_id: int, score: float
               ) -> AlertEvent:
        person_id, name = self._names[entry_id]
        box = tuple(float(v) for v in boxes[row])
        # a second look for faces beside the alerted one, so that none the frame's detection missed is in clear
        boxes = np.concatenate([np.asarray(boxes, np.float32).reshape(-1, 4),
                                neighbours(frame.image, boxes[row], lambda im: self.engine.detector.detect(im).xyxy)])
        probe = encode_jpeg(alert_crop(frame.image, boxes, row), quality=self.config.jpeg_quality)
        ctx_jpeg = None
        if self.config.alert_frame:
            ctx_jpeg = encode_jpeg(redact(frame.image, boxes, keep=[row]), quality=self.config.jpeg_quality)
        rec = AlertRecord(alert_id=alert_id_for(self._alert_ns, tr.track_id, entry_id),
                          deployment_id=self.deployment_id,
                          watchlist_id=self.watchlist_id, entry_id=entry_id, person_id=person_id,
                          score=round(score, 6), threshold=self.threshold, camera=self.camera,
                          occurred_at=self._clock(frame), track_id=tr.track_id, probe_jpeg=probe,
                          frame_jpeg=ctx_jpeg, box=(box[0], box[1], box[2], box[3]), models=dict(self.models))
        return AlertEvent(record=rec, name=name, t=frame.t, track_first_t=tr.first_t, shots=tr.attempts)

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
        return {"t": self._last_t, "last_analysed_t": self._last_analysed_t,
                "next_track_id": self.tracker._next_id}

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
        self._names = {e.entry_id: (e.person_id, e.name) for e in index.entries}
        self.index = index

    @property
    def live_tracks(self) -> int:
        return len(self.tracker.tracks)

    def memory_report(self) -> dict[str, Any]:
        """How much biometric state is held right now (for tests of P2)."""
        return {"tracks": len(self.tracker.tracks),
                "shots": sum(t.attempts for t in self.tracker.tracks.values())}


def alert_id_for(namespace: str, track_id: int, entry_id: int) -> str:
    """A deterministic alert id: at most one alert per (track, entry) within a namespace."""
    return hashlib.sha256(f"{namespace}|{track_id}|{entry_id}".encode()).hexdigest()[:32]


def index_in_memory(engine: FaceEngine, people: Mapping[str, Sequence[Image | Path]],
                    names: dict[str, str] | None = None) -> tuple[WatchlistIndex, dict[str, list[str]]]:
    """A watchlist index built in memory from photos (evaluation, tests): one entry per person,
    one vector per accepted photo (the main face, gate passed). A photo given as a path is read when
    its turn comes, so a large list does not hold every photo in memory. Returns (index, rejections)."""
    from openlfr.engine.imageio import load_image
    from openlfr.engine.matcher import WatchlistEntryRef
    from openlfr.engine.pipeline import pick_main_face

    entries: list[WatchlistEntryRef] = []
    rows: list[int] = []
    vecs: list[np.ndarray] = []
    rejected: dict[str, list[str]] = {}
    for person_id in sorted(people):
        got = 0
        for photo in people[person_id]:
            image = load_image(photo) if isinstance(photo, Path) else photo
            a = engine.analyse(image, embed="none")
            idx, why = pick_main_face(a.faces)
            if idx is None:
                rejected.setdefault(person_id, []).append(why or "no face")
                continue
            if not a.gate.passed[idx]:
                rejected.setdefault(person_id, []).append("; ".join(a.gate.reasons[idx]))
                continue
            if got == 0:
                entries.append(WatchlistEntryRef(entry_id=len(entries) + 1, person_id=person_id,
                                                 name=(names or {}).get(person_id, person_id)))
            vecs.append(engine.embedder.embed(a.chips[idx: idx + 1])[0])
            rows.append(len(entries) - 1)
            got += 1
    dim = engine.embedder.dim
    arr = np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32)
    return WatchlistIndex(arr, entries, rows, model_id=engine.embedder.model_id, dim=dim), rejected
