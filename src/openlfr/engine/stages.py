"""The stages of live analysis, each a small object (pure compute; no I/O, no storage).

:class:`~openlfr.engine.live.LiveAnalyser` composes them per analysed frame::

    Detect        image -> FaceBatch (full-frame boxes; on the region of interest, at the analysis width)
    Tracker       FaceBatch -> track ids, ended tracks                               (engine.track)
    SelectShots   faces whose track wants a shot now -> quality, gate -> ShotBatch (chips)
    embedder      ShotBatch.chips -> embeddings, one batch per frame                 (engine.protocols.Embedder)
    Tracker.check_identity   each shot's track: the same person, a split-off, or a re-identified one
    Decide        the track's decision: its template searched when due (or early when clear), or every shot
                  searched and fused -> Verdict
    MakeAlert     Verdict -> AlertEvent (redacted crop and frame, deterministic id), unless suppressed

``search`` (retrospective) and ``eval walkthrough`` run the same analyser over files; ``check`` (one photo) runs
the engine's single-image pipeline (:meth:`FaceEngine.analyse`) and the same watchlist index.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from openlfr.engine.imageio import encode_jpeg
from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import FaceEngine
from openlfr.engine.privacy import alert_crop, neighbours, redact
from openlfr.engine.protocols import Detector
from openlfr.engine.sources import Frame
from openlfr.engine.track import FusionRule, Shot, ShotPolicy, Track, shot_score
from openlfr.types import AlertRecord, FaceBatch, FloatArray, Image

if TYPE_CHECKING:
    from openlfr.engine.live import LiveConfig

View = tuple[Frame, np.ndarray, int]
"""What an alert shows: the frame, its face boxes and the row of the alerted face."""


def _scale_faces(faces: FaceBatch, sx: float, sy: float, ox: float, oy: float, size: tuple[int, int]) -> FaceBatch:
    if len(faces) == 0:
        return FaceBatch.empty(size)
    xyxy = faces.xyxy * np.array([sx, sy, sx, sy], np.float32) + np.array([ox, oy, ox, oy], np.float32)
    lm = None
    if faces.landmarks is not None:
        lm = faces.landmarks * np.array([sx, sy], np.float32) + np.array([ox, oy], np.float32)
    return faces.replace(xyxy=xyxy, landmarks=lm, image_size=size)


class Detect:
    """Faces in a frame, in full-frame coordinates: detected on the region of interest (fractions of the frame),
    scaled down to ``analysis_width`` when wider. ``width`` is the width the detector saw last."""

    def __init__(
        self, detector: Detector, roi: tuple[float, float, float, float] | None, analysis_width: int | None
    ) -> None:
        self.detector = detector
        self.roi = roi
        self.analysis_width = analysis_width
        self.width: int | None = None

    def __call__(self, image: Image) -> FaceBatch:
        h, w = image.shape[:2]
        ox = oy = 0
        view: np.ndarray = image
        if self.roi is not None:
            x1, y1, x2, y2 = self.roi
            ox, oy = int(x1 * w), int(y1 * h)
            view = image[oy : int(y2 * h), ox : int(x2 * w)]
        vw = view.shape[1]
        scale = 1.0
        aw = self.analysis_width
        if aw is not None and vw > aw:
            scale = vw / aw
            view = cv2.resize(view, (aw, max(1, round(view.shape[0] / scale))), interpolation=cv2.INTER_AREA)
        self.width = int(view.shape[1])
        faces = self.detector.detect(np.ascontiguousarray(view))
        if scale == 1.0 and ox == 0 and oy == 0:
            return faces.replace(image_size=(w, h))
        return _scale_faces(faces, scale, scale, ox, oy, (w, h))


@dataclass(frozen=True)
class ShotBatch:
    """The shots a frame gives: ``rows`` of the frame's faces, their shot scores and aligned chips."""

    rows: list[int]
    quality: FloatArray
    chips: np.ndarray


class SelectShots:
    """Which faces take a shot now. Only faces whose track may shoot (``may_shoot``) are aligned and measured
    (the main saving); of those, the ones that pass the quality gate and that their track wants
    (``Track.wants_attempt``) are returned with their chips. Notes each track's best quality seen."""

    def __init__(self, engine: FaceEngine, policy: ShotPolicy) -> None:
        self.engine = engine
        self.policy = policy

    def may_shoot(self, tracks: list[Track], t: float, shown: bool) -> list[int]:
        """Rows whose track may take a shot now. A track that alerted is checked on every analysed frame that is
        ``shown`` (a preview frame): it is shown in clear (P3), so a bystander the tracker hands its box to (a
        scene cut, someone stepping into the same place) must split off before that frame is drawn. On frames
        nobody sees it is checked every ``refresh_s``, like any decided track (enough to send a newcomer to its
        own decision, and much cheaper with many alerted faces)."""
        policy = self.policy
        return [
            j
            for j, tr in enumerate(tracks)
            if (tr.decided and tr.alerted and shown)
            or (
                (t - tr.last_attempt_t >= policy.refresh_s if tr.decided else tr.attempts < policy.max_attempts)
                and (tr.attempts == 0 or t - tr.last_attempt_t >= policy.min_gap_s)
            )
        ]

    def __call__(self, image: Image, faces: FaceBatch, tracks: list[Track], t: float, shown: bool) -> ShotBatch | None:
        may = self.may_shoot(tracks, t, shown)
        if not may:
            return None
        analysis = self.engine.analyse(image, embed="none", faces=faces.select(np.array(may, np.int64)))
        q = shot_score(analysis.faces.quality) if analysis.faces.quality is not None else np.zeros(len(may))
        chosen: list[int] = []
        for k, j in enumerate(may):
            tr = tracks[j]
            qk = float(q[k])
            tr.best_seen_quality = max(tr.best_seen_quality, qk)
            if not analysis.gate.passed[k]:
                continue
            tr.passed_any = True
            if tr.wants_attempt(t, qk, self.policy):
                chosen.append(k)
        if not chosen:
            return None
        return ShotBatch(
            rows=[may[k] for k in chosen], quality=np.asarray(q[chosen], np.float32), chips=analysis.chips[chosen]
        )


@dataclass(frozen=True)
class Verdict:
    """A decision to alert: the entry, its score, the view the alert shows, and whether it was an early one."""

    entry_id: int
    score: float
    view: View
    early: bool = False


class Decide:
    """The decision on a track.

    ``decision="track"``: the track's shots are kept; when its decision is due (``Track.due``), or early when its
    template clears the threshold by ``Track.early_margin``, the template is searched once and the best entry at
    or above the threshold alerts. ``decision="shot"``: every shot is searched (by the caller, in one batch per
    frame) and fused with the track's earlier scores. Each track alerts at most once per entry."""

    def __init__(
        self, index: WatchlistIndex, threshold: float, policy: ShotPolicy, fusion: FusionRule, top_k: int
    ) -> None:
        self.index = index
        self.threshold = float(threshold)
        self.policy = policy
        self.fusion = fusion
        self.top_k = top_k

    @staticmethod
    def note(tr: Track, shot: Shot) -> None:
        tr.shots.append(shot)
        tr.last_attempt_t = shot.t
        tr.best_attempt_quality = max(tr.best_attempt_quality, shot.quality)

    def track_shot(self, tr: Track, shot: Shot, view: View, counters: Counter[str]) -> Verdict | None:
        """``decision="track"``: keep the shot for the track's template; decide when due, or early when clear."""
        if tr.decided:  # an identity check only (the caller split off a newcomer): nothing to search
            tr.last_attempt_t = shot.t
            return None
        # the latest shot: what an alert shows if the decision comes once the face has gone (the face that was
        # embedded, not a later sighting the tracker may have given to someone else; memory only, dropped with
        # the track: P2)
        tr.extra["view"] = view
        self.note(tr, shot)
        if tr.due(shot.t, self.policy):
            return self.decide(tr, counters, view)
        if (margin := tr.early_margin(self.policy)) is not None:
            return self.decide(tr, counters, view, early=margin)
        return None

    def decide(
        self, tr: Track, counters: Counter[str], view: View | None = None, early: float | None = None
    ) -> Verdict | None:
        """The track's one decision: search the template of its shots; a verdict on the best entry at or above the
        threshold, showing ``view`` (now) or the track's latest shot (at its end).

        ``early``: a look before the decision is due, with its margin (``Track.early_margin``); it decides only
        when the best entry clears the threshold by that margin, else the track stays undecided and keeps taking
        shots."""
        if self.index.size == 0:
            tr.decided = True
            return None
        counters["searches"] += 1
        found = self.index.search(tr.template()[None, :], top_k=min(self.top_k, self.index.size), threshold=0.0)[0]
        for m in found:
            tr.best_fused[m.entry_id] = max(tr.best_fused.get(m.entry_id, 0.0), m.score)
        bar = self.threshold + (early or 0.0)
        ready = [(m.score, m.entry_id) for m in found if m.score >= bar]
        if early is not None and not ready:
            return None
        tr.decided = True
        view = view or tr.extra.get("view")
        if not ready or view is None:
            return None
        s, eid = max(ready)
        tr.alerted[eid] = s
        return Verdict(entry_id=eid, score=s, view=view, early=early is not None)

    def fused_shot(self, tr: Track, shot: Shot, matches: list[Any], view: View) -> Verdict | None:
        """``decision="shot"``: this shot was searched (``matches``); fuse its scores with the track's earlier ones
        and decide on an entry the fused score puts at or above the threshold."""
        scores = {m.entry_id: m.score for m in matches}
        floor = 0.0 if len(matches) >= self.index.size else (min(scores.values()) if scores else 0.0)
        self.note(tr, replace(shot, scores=scores, floor=floor))
        fused = tr.fused(self.fusion)
        for eid, sc in fused.items():
            tr.best_fused[eid] = max(tr.best_fused.get(eid, 0.0), sc)
        ready = [(sc, eid) for eid, sc in fused.items() if sc >= self.threshold and eid not in tr.alerted]
        if not ready:
            return None
        sc, eid = max(ready)
        tr.alerted[eid] = sc
        return Verdict(entry_id=eid, score=sc, view=view)


@dataclass(frozen=True)
class AlertEvent:
    """An alert plus what evaluation and the console need beyond the stored record."""

    record: AlertRecord
    name: str
    t: float
    """Source time (s) of the shot that raised it."""
    track_first_t: float
    shots: int


def alert_id_for(namespace: str, track_id: int, entry_id: int) -> str:
    """A deterministic alert id: at most one alert per (track, entry) within a namespace."""
    return hashlib.sha256(f"{namespace}|{track_id}|{entry_id}".encode()).hexdigest()[:32]


class MakeAlert:
    """A verdict made an alert: one per person per camera within ``suppress_s`` (source time), the alerted face
    cropped and the frame redacted (P3: only the alerted person in clear, after a second look for faces beside
    it), an id derived from ``namespace``, track and entry (a replay after a crash gets the same ids)."""

    def __init__(
        self,
        detector: Detector,
        config: LiveConfig,
        namespace: str,
        clock: Callable[[Frame], datetime],
        ids: dict[str, Any],
        index: WatchlistIndex,
    ) -> None:
        self.detector = detector
        self.config = config
        self.namespace = namespace
        self.clock = clock
        self.ids = ids
        """deployment_id, watchlist_id, camera, threshold, models: copied into every record."""
        self.names: dict[int, tuple[str, str]] = {}
        """entry_id -> (person id, name) of the index searched."""
        self.set_index(index)
        self._last_alert_t: dict[int, float] = {}
        """entry_id -> source time of its last alert or suppressed match on this camera (no biometric data)."""

    def set_index(self, index: WatchlistIndex) -> None:
        """Name alerts from ``index``'s entries (a refreshed watchlist)."""
        self.names = {e.entry_id: (e.person_id, e.name) for e in index.entries}

    def suppressed(self, entry_id: int, t: float, counters: Counter[str]) -> bool:
        """Whether this entry alerted (or was suppressed) on this camera within ``suppress_s``; records ``t``."""
        window = self.config.suppress_s
        last = self._last_alert_t.get(entry_id)
        self._last_alert_t[entry_id] = t
        if window > 0 and last is not None and t - last < window:
            counters["alerts_suppressed"] += 1
            return True
        return False

    def __call__(self, verdict: Verdict, tr: Track) -> AlertEvent:
        frame, boxes, row = verdict.view
        person_id, name = self.names[verdict.entry_id]
        box = tuple(float(v) for v in boxes[row])
        # a second look for faces beside the alerted one, so that none the frame's detection missed is in clear
        boxes = np.concatenate(
            [
                np.asarray(boxes, np.float32).reshape(-1, 4),
                neighbours(frame.image, boxes[row], lambda im: self.detector.detect(im).xyxy),
            ]
        )
        quality = self.config.jpeg_quality
        probe = encode_jpeg(alert_crop(frame.image, boxes, row), quality=quality)
        ctx_jpeg = (
            encode_jpeg(redact(frame.image, boxes, keep=[row]), quality=quality) if self.config.alert_frame else None
        )
        rec = AlertRecord(
            alert_id=alert_id_for(self.namespace, tr.track_id, verdict.entry_id),
            deployment_id=self.ids["deployment_id"],
            watchlist_id=self.ids["watchlist_id"],
            entry_id=verdict.entry_id,
            person_id=person_id,
            score=round(verdict.score, 6),
            threshold=self.ids["threshold"],
            camera=self.ids["camera"],
            occurred_at=self.clock(frame),
            track_id=tr.track_id,
            probe_jpeg=probe,
            frame_jpeg=ctx_jpeg,
            box=(box[0], box[1], box[2], box[3]),
            models=dict(self.ids["models"]),
        )
        return AlertEvent(record=rec, name=name, t=frame.t, track_first_t=tr.first_t, shots=tr.attempts)
