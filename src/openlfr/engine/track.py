"""Face tracking, best-shot selection and score fusion: decisions per *track* (one face seen).

**Association.** Each frame's detections are matched to live tracks by an affinity, solved as an
assignment (Hungarian, ``scipy.optimize.linear_sum_assignment``):

- IoU of the detection with the track's box predicted at this frame's time (constant velocity
  from the last two sightings). Pairs with IoU >= ``iou_min`` have affinity = IoU.
- Below that, a fast-moving or briefly missed face can still be matched by centre distance:
  if the centres are closer than ``max_centre_dist`` box widths and the box sizes differ by at
  most ``max_size_ratio``, affinity = ``iou_min`` x (1 - distance / limit) (always below any IoU
  match, so overlaps win).
- Where both the detection and the track carry an embedding, similarity joins in: a pair whose
  score is below ``emb_veto`` is never matched (a different person walked into the box), and
  ``emb_weight`` x (score - 0.5) is added to the affinity. In the live path detections are not
  embedded before association (that is the point of best shots), so this applies when a caller
  embeds every face (retrospective search with ``embed_every_face``); the live path uses
  embeddings after the fact instead: see :meth:`Tracker.split` and :meth:`Tracker.reidentify`.

A track ends ``ttl_s`` (default 2 s) after its last sighting; its shots, crops and embeddings are
dropped with it (P2). Unmatched detections start new tracks.

**Best shots.** Each sighting gets a shot score in [0, 1] (:func:`shot_score`). A shot is
*attempted* (embedded and searched) when it passed the quality gate and either (a) the track
has no attempt yet, (b) it beats the best attempted shot score by ``improve_ratio``, or (c)
``refresh_s`` has passed since the last attempt (a new view of the same face). Attempts are at
least ``min_gap_s`` apart and capped at ``max_attempts`` per track (Frigate's idea: a person who
stays in view is not re-embedded on every frame).

**One decision per track** (``LiveConfig.decision = "track"``, the default). A track that is searched
after each of up to 8 shots has up to 8 chances of a false alert, so its false-alert rate per face
seen would be up to 8 times the calibrated per-search FPIR. Instead the shots' embeddings are kept
(memory only) and the track is searched *once*, on their quality-weighted mean (:meth:`Track.template`),
when it has ``decide_after`` shots or ``decide_within_s`` after its first shot, whichever comes first;
no shot is taken after that. The per-track FPIR is then the calibrated per-search one.

**Fusion** (``decision = "shot"``, the earlier behaviour). A track's decision uses the scores of all
its attempted shots against each watchlist entry, combined by a fusion rule (:data:`FUSION_RULES`),
re-evaluated after every attempt; an entry whose fused score reaches the threshold raises an alert
once per track.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linear_sum_assignment

from openlfr.errors import ConfigError
from openlfr.types import QUALITY_FIELDS, FaceBatch, FloatArray

_Q = {name: i for i, name in enumerate(QUALITY_FIELDS)}


class TrackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iou_min: float = Field(0.2, ge=0.0, le=1.0, description="Smallest IoU that links a detection to a track.")
    max_centre_dist: float = Field(
        1.0, ge=0.0, le=10.0, description="Centre-distance fallback, in box widths (0 disables)."
    )
    max_size_ratio: float = Field(1.6, ge=1.0, le=10.0, description="Largest box-size ratio for the fallback.")
    ttl_s: float = Field(
        2.0, gt=0.0, le=60.0, description="A track ends this long after its last sighting (P2: its data goes)."
    )
    min_hits: int = Field(2, ge=1, le=100, description="Sightings before a track counts as a face seen.")
    emb_veto: float = Field(
        0.80, ge=0.0, le=1.0, description="Never link a detection and a track whose embeddings score below this."
    )
    emb_weight: float = Field(1.0, ge=0.0, le=10.0, description="Weight of embedding similarity in affinity.")
    split_below: float | None = Field(
        0.65,
        ge=0.0,
        le=1.0,
        description="Start a new track when a shot's embedding scores below this against the track's "
        "earlier shots (identity switch: one person walks into the box another just left); "
        "None: never split. 0.65 for the default embedder (fr_feature): on the walk-through, "
        "shots of one person score 0.75-0.95 against each other, of two people about 0.5.",
    )
    reid_above: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Merge a new track into a lost (not yet ended) one when their first embeddings score "
        "at least this; None: never merge.",
    )


class ShotPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(
        8,
        ge=1,
        le=50,
        description=(
            "Most shots embedded and searched per track (8: on the 40-person walk-through 3 shots found 17 of 20 "
            "listed people at the default operating point, 8 found 19, no false alert)."
        ),
    )
    min_gap_s: float = Field(0.2, ge=0.0, le=60.0, description="Smallest time between two attempts.")
    improve_ratio: float = Field(
        1.15, ge=1.0, le=10.0, description="A shot this much better than the best attempted one is tried."
    )
    refresh_s: float = Field(
        0.6, ge=0.0, le=60.0, description="After this long since the last attempt, a passing shot is tried."
    )
    decide_after: int = Field(
        5,
        ge=1,
        le=50,
        description=(
            "One decision per track (LiveConfig.decision 'track'): the track is searched once, on the "
            "quality-weighted mean of its shots' embeddings, when it has this many shots ..."
        ),
    )
    decide_within_s: float = Field(
        2.0,
        ge=0.0,
        le=60.0,
        description=("... or at its first shot this long after its first shot, whichever comes first."),
    )
    decide_lost_s: float = Field(
        0.4,
        ge=0.0,
        le=60.0,
        description=(
            "A track not seen for this long before its decision was due is decided then, on the shots it has "
            "(it need not wait the tracker's ttl_s to end, so its alert is not late)."
        ),
    )
    early_margin: float | None = Field(
        0.03,
        ge=0.0,
        le=1.0,
        description=(
            "Early decision: before its decision is due, a track with at least early_after shots whose template "
            "scores at least the threshold plus this margin is decided at once (None: never early). 0.03 on the "
            "default embedder's scale is about a tenfold lower false-match rate than the threshold's (shipped "
            "calibration), so a clear match alerts within a second while a borderline one waits for all its shots."
        ),
    )
    early_after: int = Field(2, ge=1, le=50, description="Shots a track needs before an early decision.")
    early_first_margin: float | None = Field(
        0.06,
        ge=0.0,
        le=1.0,
        description=(
            "Early decision on fewer than early_after shots (a track's first): the lone shot must clear the threshold "
            "by this margin (None: never). Twice early_margin, about a hundredfold lower false-match rate than the "
            "threshold's by the calibration's slope: a face the detector sees only in a short run of frames, and so "
            "shoots once before the track is lost, alerts on that frame instead of when the lost track is decided."
        ),
    )


def shot_score(quality: FloatArray) -> FloatArray:
    """Shot scores in [0, 1] for quality rows (n, len(QUALITY_FIELDS)).

    score = min(inter_eye / 60 px, 1) x frontal x min(sharpness / 40, 1)^0.5 x contrast term x
    detector confidence, with NaN measures counted as neutral (1); the contrast term is
    min(contrast / 30, 1)^0.5. Resolution and pose dominate, as they do for recognisers.
    """
    q = np.atleast_2d(np.asarray(quality, dtype=np.float32))

    def col(name: str, default: float = 1.0) -> FloatArray:
        v = q[:, _Q[name]].astype(np.float32)
        return np.where(np.isnan(v), default, v).astype(np.float32)

    ied = np.clip(col("inter_eye_px", 60.0) / 60.0, 0.0, 1.0)
    frontal = np.clip(col("frontal"), 0.0, 1.0)
    sharp = np.sqrt(np.clip(col("sharpness", 40.0) / 40.0, 0.0, 1.0))
    contrast = np.sqrt(np.clip(col("contrast", 30.0) / 30.0, 0.0, 1.0))
    det = np.clip(col("det_score"), 0.0, 1.0)
    out: FloatArray = (ied * frontal * sharp * contrast * det).astype(np.float32)
    return out


# ---- fusion rules ---------------------------------------------------------------------------

FusionRule = Callable[[FloatArray], FloatArray]
"""(shots, entries) score matrix -> (entries,) fused scores."""


def fuse_max(scores: FloatArray) -> FloatArray:
    """Best shot wins: an entry alerts when any single attempted shot reaches the threshold.
    Most sensitive; FPIR per track grows with attempts (at most ``max_attempts`` x the
    per-search FPIR)."""
    out: FloatArray = np.asarray(scores, np.float32).max(axis=0)
    return out


def fuse_mean(scores: FloatArray) -> FloatArray:
    """Mean over all attempted shots so far: one lucky shot cannot alert on its own once there
    are others; a single shot decides alone."""
    out: FloatArray = np.asarray(scores, np.float32).mean(axis=0)
    return out


def fuse_top2(scores: FloatArray) -> FloatArray:
    """Mean of the best two shots per entry (the single shot while there is only one)."""
    s = np.asarray(scores, np.float32)
    if s.shape[0] <= 1:
        single: FloatArray = s.max(axis=0)
        return single
    top = -np.partition(-s, 1, axis=0)[:2]
    out: FloatArray = top.mean(axis=0).astype(np.float32)
    return out


def fuse_quality(scores: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Quality-weighted mean: each shot's scores weighted by its shot score (:func:`shot_score`,
    floored at 0.05 so a poor shot still counts a little); without weights, the plain mean. A
    single shot decides alone; a sharp frontal shot outweighs blurred or small ones."""
    s = np.asarray(scores, np.float32)
    if weights is None:
        return fuse_mean(s)
    w = np.maximum(np.asarray(weights, np.float32).reshape(-1), 0.05)
    out: FloatArray = ((w[:, None] * s).sum(axis=0) / w.sum()).astype(np.float32)
    return out


fuse_quality.uses_quality = True  # type: ignore[attr-defined]
"""Rules with ``uses_quality`` get the shots' quality scores as ``weights`` (:meth:`Track.fused`)."""

FUSION_RULES: dict[str, FusionRule] = {"max": fuse_max, "mean": fuse_mean, "top2": fuse_top2, "quality": fuse_quality}


def register_fusion(name: str, rule: FusionRule) -> None:
    """Add a fusion rule (for comparisons); ``LiveConfig.fusion`` selects it by name."""
    FUSION_RULES[name] = rule


def get_fusion(name: str) -> FusionRule:
    try:
        return FUSION_RULES[name]
    except KeyError:
        raise ConfigError(
            f"unknown fusion rule {name!r}; available: {', '.join(sorted(FUSION_RULES))}", code="unknown_fusion"
        ) from None


# ---- tracks -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Shot:
    """One attempted shot: its embedding and its score per watchlist entry (memory only)."""

    t: float
    quality: float
    embedding: FloatArray = field(repr=False)
    scores: dict[int, float] = field(default_factory=dict, repr=False)
    floor: float = 0.0
    """Score assumed for entries not among this shot's returned candidates."""


@dataclass(eq=False)
class Track:
    track_id: int
    first_t: float
    last_t: float
    box: FloatArray
    hits: int = 1
    velocity: FloatArray = field(default_factory=lambda: np.zeros(4, np.float32))
    best_seen_quality: float = 0.0
    passed_any: bool = False
    shots: list[Shot] = field(default_factory=list)
    last_attempt_t: float = -1e9
    best_attempt_quality: float = 0.0
    alerted: dict[int, float] = field(default_factory=dict)
    """entry_id -> fused score at alert time."""
    best_fused: dict[int, float] = field(default_factory=dict)
    counted: bool = False
    decided: bool = False
    """One decision per track: set once its template was searched (no more shots after that)."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def attempts(self) -> int:
        return len(self.shots)

    def predict(self, t: float) -> FloatArray:
        dt = max(0.0, t - self.last_t)
        return (self.box + self.velocity * min(dt, 1.0)).astype(np.float32)

    def wants_attempt(self, t: float, quality: float, policy: ShotPolicy) -> bool:
        if self.decided:  # after its one decision a track takes a shot only to check it is still one person
            return bool(self.alerted) or t - self.last_attempt_t >= policy.refresh_s
        if self.attempts >= policy.max_attempts:
            return False
        if self.attempts == 0:
            return True
        if t - self.last_attempt_t < policy.min_gap_s:
            return False
        if quality >= self.best_attempt_quality * policy.improve_ratio:
            return True
        return t - self.last_attempt_t >= policy.refresh_s

    def embeddings(self) -> FloatArray:
        if not self.shots:
            return np.zeros((0, 0), np.float32)
        return np.stack([s.embedding for s in self.shots])

    def template(self) -> FloatArray:
        """The track's one probe: the quality-weighted mean of its shots' unit embeddings (weights
        floored at 0.05, as in :func:`fuse_quality`), L2-normalised."""
        e = self.embeddings()
        w = np.maximum(np.array([s.quality for s in self.shots], np.float32), 0.05)
        v = (w[:, None] * e).sum(axis=0)
        n = float(np.linalg.norm(v))
        out: FloatArray = (v / n if n > 0 else v).astype(np.float32)
        return out

    def due(self, t: float, policy: ShotPolicy) -> bool:
        """Whether the track's one decision is due at time ``t`` (it has shots, none decided yet)."""
        if self.decided or not self.shots:
            return False
        return self.attempts >= policy.decide_after or t - self.shots[0].t >= policy.decide_within_s

    def early_margin(self, policy: ShotPolicy) -> float | None:
        """The margin over the threshold an early look needs now, or None when no early look is allowed: undecided
        with a shot, ``early_margin`` from ``early_after`` shots, ``early_first_margin`` before (both off when
        ``early_margin`` is None)."""
        if policy.early_margin is None or self.decided or not self.shots:
            return None
        return policy.early_margin if len(self.shots) >= policy.early_after else policy.early_first_margin

    def fused(self, rule: FusionRule) -> dict[int, float]:
        """Fused score per entry over the attempted shots (entries any shot returned)."""
        if not self.shots:
            return {}
        entries = sorted({e for s in self.shots for e in s.scores})
        if not entries:
            return {}
        m = np.array([[s.scores.get(e, s.floor) for e in entries] for s in self.shots], np.float32)
        if getattr(rule, "uses_quality", False):
            f = rule(m, weights=np.array([s.quality for s in self.shots], np.float32))  # type: ignore[call-arg]
        else:
            f = rule(m)
        return {e: float(v) for e, v in zip(entries, f, strict=True)}

    def forget(self) -> None:
        """Drop everything biometric (P2): shots, embeddings, scores, attachments."""
        self.shots.clear()
        self.extra.clear()
        self.best_fused.clear()


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: FloatArray = (inter / np.maximum(union, 1e-6)).astype(np.float32)
    return out


class Tracker:
    """Associates detections with tracks frame by frame; ends tracks after ``ttl_s``."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def _affinity(self, faces: FaceBatch, t: float, tracks: list[Track]) -> FloatArray:
        cfg = self.config
        det = faces.xyxy
        pred = np.stack([tr.predict(t) for tr in tracks]) if tracks else np.zeros((0, 4), np.float32)
        iou = iou_matrix(pred, det)  # (tracks, dets)
        aff = np.where(iou >= cfg.iou_min, iou, -np.inf).astype(np.float32)
        if cfg.max_centre_dist > 0 and len(pred) and len(det):
            pc = (pred[:, :2] + pred[:, 2:]) / 2
            dc = (det[:, :2] + det[:, 2:]) / 2
            pw = np.maximum(pred[:, 2] - pred[:, 0], 1.0)
            dw = np.maximum(det[:, 2] - det[:, 0], 1.0)
            dist = np.linalg.norm(pc[:, None, :] - dc[None, :, :], axis=2)
            limit = cfg.max_centre_dist * np.maximum(pw[:, None], dw[None, :])
            ratio = np.maximum(pw[:, None] / dw[None, :], dw[None, :] / pw[:, None])
            ok = (dist < limit) & (ratio <= cfg.max_size_ratio) & ~np.isfinite(aff)
            fallback = cfg.iou_min * (1.0 - dist / np.maximum(limit, 1e-6)) * 0.99
            aff = np.where(ok, fallback, aff).astype(np.float32)
        if faces.embedding is not None and len(det):
            for i, tr in enumerate(tracks):
                prev = tr.embeddings()
                if prev.size == 0:
                    continue
                for j in range(len(det)):
                    e = faces.embedding[j]
                    if not np.isfinite(aff[i, j]) or np.isnan(e).any() or prev.shape[1] != e.shape[0]:
                        continue
                    s = float(((1.0 + prev @ e) / 2.0).max())
                    aff[i, j] = -np.inf if s < cfg.emb_veto else aff[i, j] + cfg.emb_weight * (s - 0.5)
        return aff

    def update(self, faces: FaceBatch, t: float) -> tuple[FaceBatch, list[Track]]:
        """Assign every detection a track id at time ``t``; return (faces with ``track_id``,
        tracks that ended, i.e. not seen for more than ``ttl_s``)."""
        live = list(self.tracks.values())
        n = len(faces)
        ids = np.full(n, -1, np.int64)
        if n and live:
            aff = self._affinity(faces, t, live)
            cost = np.where(np.isfinite(aff), -aff, 1e6)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if np.isfinite(aff[r, c]):
                    tr = live[r]
                    ids[c] = tr.track_id
                    self._see(tr, faces.xyxy[c], t)
        for j in np.flatnonzero(ids < 0):
            ids[j] = self._start(faces.xyxy[j], t).track_id
        ended = self.expire(t)
        return faces.replace(track_id=ids), ended

    def _see(self, tr: Track, box: FloatArray, t: float) -> None:
        dt = t - tr.last_t
        if dt > 1e-6:
            v = (np.asarray(box, np.float32) - tr.box) / dt
            tr.velocity = (0.5 * tr.velocity + 0.5 * v).astype(np.float32)
        tr.box = np.asarray(box, np.float32).copy()
        tr.last_t = t
        tr.hits += 1

    def _start(self, box: FloatArray, t: float) -> Track:
        tr = Track(track_id=self._next_id, first_t=t, last_t=t, box=np.asarray(box, np.float32).copy())
        self._next_id += 1
        self.tracks[tr.track_id] = tr
        return tr

    def expire(self, t: float) -> list[Track]:
        """End (and return) every track last seen more than ``ttl_s`` before ``t``."""
        gone = [tr for tr in self.tracks.values() if t - tr.last_t > self.config.ttl_s]
        for tr in gone:
            del self.tracks[tr.track_id]
        return gone

    def end_all(self) -> list[Track]:
        gone = list(self.tracks.values())
        self.tracks.clear()
        return gone

    def split(self, track: Track, t: float) -> Track:
        """Identity switch detected on ``track``: a new track continues from its box; the old one
        keeps its history and ends normally (returned new track has no shots)."""
        new = self._start(track.box, t)
        new.hits = 1
        track.last_t = min(track.last_t, t - 1e-6)
        track.box = np.full(4, -1e6, np.float32)  # park it away so nothing matches it again
        return new

    def check_identity(self, track: Track, embedding: FloatArray, t: float, seen_ids: set[int]) -> Track:
        """The track a new shot (``embedding``, taken at ``t``) belongs to: ``track`` itself; a new track split off
        when the shot is not the person of the track's earlier shots (``split_below``); or, for a track just
        started, an earlier one it re-identifies (``reid_above``; ``seen_ids``: tracks seen in this frame)."""
        if self.config.split_below is not None and track.shots:
            prev = float(((1.0 + track.embeddings() @ embedding) / 2.0).max())
            if prev < self.config.split_below:
                track = self.split(track, t)
        if track.attempts == 0 and track.hits <= 2:
            merged = self.reidentify(track, embedding, seen_ids)
            if merged is not None:
                track = merged
        return track

    def reidentify(self, new: Track, embedding: FloatArray, seen_ids: set[int]) -> Track | None:
        """If ``new`` (just started) looks like a lost track (alive but not seen this frame),
        merge ``new`` into it and return the lost track; else None."""
        thr = self.config.reid_above
        if thr is None:
            return None
        best: tuple[float, Track] | None = None
        for tr in self.tracks.values():
            if tr is new or tr.track_id in seen_ids or not tr.shots:
                continue
            s = float(((1.0 + tr.embeddings() @ embedding) / 2.0).max())
            if s >= thr and (best is None or s > best[0]):
                best = (s, tr)
        if best is None:
            return None
        lost = best[1]
        lost.box = new.box
        lost.last_t = new.last_t
        lost.hits += new.hits
        del self.tracks[new.track_id]
        return lost
