"""Deployment statistics from alert rows and counters (no biometric data).

Counters written by the live path (``AlertSink.count``) live in the ``counters`` table under
the scope ``deployment:{id}:camera:{name}``; alerts are rows of ``alerts`` (their images may
have been deleted by retention, their verdict and outcome stay).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from openlfr.storage.models_gov import OUTCOMES, Deployment
from openlfr.storage.repos.reports import ReportQueries

COUNTED = (
    "frames_analysed",
    "faces_detected",
    "faces_seen",
    "quality_rejected",
    "queue_drops",
    "source_reconnects",
    "live_seconds",
)
"""Counter names summed into the statistics (``live_seconds`` when the runtime reports it)."""


def counter_scope(deployment_id: int | None, camera: str) -> str:
    if deployment_id is None:
        return f"adhoc:camera:{camera}"
    return f"deployment:{deployment_id}:camera:{camera}"


def camera_counters(s: Session, deployment_id: int) -> dict[str, dict[str, float]]:
    prefix = f"deployment:{deployment_id}:camera:"
    out: dict[str, dict[str, float]] = {}
    for scope, name, value in ReportQueries(s).counters(prefix):
        cam = scope[len(prefix) :]
        out.setdefault(cam, {})[name] = float(value)
    return out


def _as_utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True)
class AlertCounts:
    """A deployment's alerts: how many, their verdicts and their outcomes (all, true and false alerts)."""

    alerts: int
    true_alerts: int
    false_alerts: int
    unadjudicated: int
    outcomes: dict[str, int]
    outcomes_true_alerts: dict[str, int]
    outcomes_false_alerts: dict[str, int]


@dataclass(frozen=True)
class AlertFigures(AlertCounts):
    """A deployment's alert counts, and how many alerts each camera raised."""

    alerts_per_camera: dict[str, int]


_FIRST = ("faces_seen", "faces_detected", "quality_rejected", "frames_analysed", "queue_drops", "source_reconnects")
"""The keys the statistics' JSON form starts with (then the alert counts, then times and cameras)."""


@dataclass(frozen=True)
class DeploymentStats(AlertCounts):
    """Everything a report needs about one deployment (no biometric data). Its JSON form, :meth:`to_dict`, is
    what an ended deployment keeps frozen (``Deployment.stats``)."""

    faces_seen: int
    faces_detected: int
    quality_rejected: int
    frames_analysed: int
    queue_drops: int
    source_reconnects: int
    deployment_live_seconds: float | None
    """Camera time: the longest camera's ``live_seconds`` (cameras run side by side)."""
    wall_clock_seconds: float | None
    camera_live_seconds: dict[str, float | None]
    per_camera: dict[str, dict[str, Any]]
    """Per camera: its counters (``COUNTED`` but ``live_seconds``), ``alerts`` and ``live_seconds``."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as stored in ``Deployment.stats``: the counters of ``_FIRST``, the alert counts, the
        times, per camera."""
        d = asdict(self)
        return {**{k: d.pop(k) for k in _FIRST}, **d}


def alert_figures(s: Session, deployment_id: int) -> AlertFigures:
    rows = ReportQueries(s).alert_tally(deployment_id)
    total = true = false = 0
    outcomes = {o: 0 for o in OUTCOMES}
    outcomes_true = {o: 0 for o in OUTCOMES}
    outcomes_false = {o: 0 for o in OUTCOMES}
    per_camera: dict[str, int] = {}
    for verdict, outcome, camera, n in rows:
        n = int(n)
        total += n
        per_camera[camera] = per_camera.get(camera, 0) + n
        if verdict == "true":
            true += n
        elif verdict == "false":
            false += n
        if outcome in outcomes:
            outcomes[outcome] += n
            if verdict == "true":
                outcomes_true[outcome] += n
            elif verdict == "false":
                outcomes_false[outcome] += n
    return AlertFigures(
        alerts=total,
        true_alerts=true,
        false_alerts=false,
        unadjudicated=total - true - false,
        outcomes=outcomes,
        outcomes_true_alerts=outcomes_true,
        outcomes_false_alerts=outcomes_false,
        alerts_per_camera=per_camera,
    )


def deployment_stats(s: Session, dep: Deployment, now: datetime | None = None) -> DeploymentStats:
    """Everything a report needs about one deployment (``.to_dict()``: plain JSON values)."""
    cams = camera_counters(s, dep.id)
    camera_names = [c.name for c in dep.cameras]
    for name in cams:
        if name not in camera_names:
            camera_names.append(name)
    totals = {k: 0 for k in COUNTED}
    for values in cams.values():
        for k in COUNTED:
            totals[k] += round(values.get(k, 0.0))
    figures = alert_figures(s, dep.id)
    started, ended = _as_utc(dep.started_at), _as_utc(dep.ended_at)
    wall_s: float | None = None
    if started is not None:
        stop = ended or _as_utc(now) or datetime.now(UTC)
        wall_s = max(0.0, (stop - started).total_seconds())
    # Camera time: how long the cameras were actually live (their ``live_seconds`` counters; the
    # longest camera, as cameras run side by side), not the wall clock since the start.
    cam_s = [values["live_seconds"] for values in cams.values() if "live_seconds" in values]
    live_s: float | None = max(cam_s) if cam_s else (None if started is None else 0.0)
    per_camera: dict[str, dict[str, Any]] = {}
    for name in camera_names:
        values = cams.get(name, {})
        per_camera[name] = {
            **{k: round(values.get(k, 0.0)) for k in COUNTED if k != "live_seconds"},
            "alerts": figures.alerts_per_camera.get(name, 0),
            "live_seconds": round(values["live_seconds"], 1) if "live_seconds" in values else None,
        }
    return DeploymentStats(
        faces_seen=totals["faces_seen"],
        faces_detected=totals["faces_detected"],
        quality_rejected=totals["quality_rejected"],
        frames_analysed=totals["frames_analysed"],
        queue_drops=totals["queue_drops"],
        source_reconnects=totals["source_reconnects"],
        **{k: v for k, v in asdict(figures).items() if k != "alerts_per_camera"},
        deployment_live_seconds=None if live_s is None else round(live_s, 1),
        wall_clock_seconds=None if wall_s is None else round(wall_s, 1),
        camera_live_seconds={n: c["live_seconds"] for n, c in per_camera.items()},
        per_camera=per_camera,
    )
