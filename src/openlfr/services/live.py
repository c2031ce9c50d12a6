"""Live recognition (LFR) use case: a watchlist against one or more streams.

Two ways in:
- ``watchlist`` mode (``openlfr run --watchlist NAME --source URL ...``): alerts go to the
  caller (JSON lines on stdout) and to an in-memory sink; the run's start, end and counters are
  written to the audit log.
- ``deployment`` mode (``openlfr run --deployment ID``): the deployment's plan (watchlist,
  threshold, cameras, models) from ``services.deployments``; alerts and counters go to the
  deployment's alert store (``services.alerts.StoreAlertSink`` behind ``services.spool.SpoolingSink``).
  The run stops at the planned end at the latest, and then ends the deployment (its watchlist is deleted, P4).

One host for both, whoever starts the run (``openlfr run``, ``openlfr serve``; cameras on this machine or
on a Ray cluster): the runner publishes typed events on the run's bus (``runtime/events.py``); the store
subscribes to alerts and counters (:meth:`LiveRun.host`), the console and the CLI to what they show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from openlfr.engine.live import AlertEvent, LiveConfig
from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import EngineConfig
from openlfr.engine.sources import mask_url
from openlfr.errors import InputError
from openlfr.names import check_name
from openlfr.runtime.camera_runtime import CameraRuntime, create_runtime
from openlfr.runtime.events import (
    AlertRaised,
    AlertStored,
    CameraState,
    Counters,
    EventBus,
    PreviewFrame,
    SourceState,
    StoreStatus,
    TracksClosed,
)
from openlfr.runtime.preview import MjpegServer, PreviewHub
from openlfr.runtime.sinks import AlertSink, MemorySink
from openlfr.runtime.workers import CameraSpec, RunInputs, RunSummary
from openlfr.services.context import AppContext, engine_config_from_settings
from openlfr.services.lease import DeploymentLease
from openlfr.services.operating_point import OperatingPoint, op_fields, resolve_for
from openlfr.services.spool import SpoolingSink, SpoolStatus
from openlfr.services.watchlists import load_index
from openlfr.storage import audit

if TYPE_CHECKING:
    from openlfr.services.deployments import LivePlan

__all__ = [
    "AlertRaised",
    "AlertStored",
    "CameraState",
    "Counters",
    "EventBus",
    "LiveAlert",
    "LiveRun",
    "MjpegServer",
    "PreviewFrame",
    "PreviewHub",
    "RunOptions",
    "RunResult",
    "SourceState",
    "StoreStatus",
    "TracksClosed",
    "camera_specs",
    "live_alert",
    "run_deployment",
    "run_watchlist",
    "sources_reason",
]
"""The bus and its event types are re-exported here: the console and the CLI reach the live path through
this module only."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    loop: bool = False
    realtime: bool = False
    max_seconds: float | None = None
    mode: str = "auto"
    live: LiveConfig | None = None
    camera_overrides: dict[str, Any] | None = None
    end_deployment_on_exit: bool = False
    camera_session: bool = False
    """Camera processes in sessions of their own (``openlfr serve``: see ``api/live.py``)."""
    spool_flush_s: float = 60.0
    """At the end of a run, how long to keep trying to write spooled alerts to a store that is down."""


class LiveAlert(BaseModel):
    """One alert as the console's push and ``openlfr run`` show it (no images: those stay with the store)."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    camera: str
    watchlist: str
    person_id: str
    name: str
    score: float
    threshold: float
    track_id: int
    occurred_at: str
    """ISO 8601, UTC."""
    t: float
    """Seconds into the source."""
    latency_s: float
    """From the track's first sighting to the alert."""
    shots: int
    box: list[float]
    deployment_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def live_alert(ev: AlertEvent, watchlist: str) -> LiveAlert:
    """The alert of ``ev`` (rounded for display)."""
    r = ev.record
    return LiveAlert(
        alert_id=r.alert_id,
        camera=r.camera,
        watchlist=watchlist,
        person_id=r.person_id,
        name=ev.name,
        score=round(r.score, 6),
        threshold=r.threshold,
        track_id=r.track_id,
        occurred_at=r.occurred_at.isoformat(),
        t=round(ev.t, 3),
        latency_s=round(ev.t - ev.track_first_t, 3),
        shots=ev.shots,
        box=[round(v, 1) for v in r.box],
        deployment_id=r.deployment_id,
    )


class RunResult(BaseModel):
    """How a live run ended: per camera its state, source and counters (Ray: restarts and nodes too), the
    alerts stored, the watchlist and operating point, and for a deployment's run the deployment's state."""

    model_config = ConfigDict(frozen=True)

    cameras: dict[str, dict[str, Any]]
    alerts: int
    duration_s: float
    stopped_by: str
    watchlist: str
    watchlist_size: int
    threshold: float
    threshold_source: str | None = None
    target_fpir: float | None = None
    operating_point: dict[str, Any] | None = None
    deployment_id: int | None = None
    store: dict[str, int] | None = None
    """A deployment's run: alerts spooled while the store was down, written later, left unwritten."""
    deployment_state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``openlfr run --json``'s summary): the deployment's state only for a deployment's run."""
        return self.model_dump(mode="json", exclude_unset=True)


def live_config(
    analysis_fps: float | None,
    analysis_width: int | None,
    fusion: str | None,
    max_attempts: int | None,
    roi: str | None = None,
) -> LiveConfig:
    """The live configuration of ``openlfr run``'s analysis options (None: the default), each checked with a clear
    error: ``roi`` as "x1,y1,x2,y2" fractions, ``analysis_width`` 0 for the full frame."""
    from pydantic import ValidationError

    box = None
    if roi:
        try:
            x1, y1, x2, y2 = (float(v) for v in roi.split(","))
            box = (x1, y1, x2, y2)
            LiveConfig(roi=box)
        except (ValueError, ValidationError):
            raise InputError(
                f"--roi must be x1,y1,x2,y2 fractions of the frame with x1<x2, y1<y2 in [0, 1]; got {roi!r}",
                code="bad_roi",
            ) from None
    cfg = LiveConfig(analysis_fps=analysis_fps, roi=box)
    if analysis_width is not None:  # None: the default width; 0: the full frame
        try:
            width = LiveConfig(analysis_width=analysis_width or None).analysis_width
        except ValidationError:
            raise InputError(
                f"--analysis-width must be 0 (the full frame) or 64-8192 pixels; got {analysis_width}",
                code="bad_analysis_width",
            ) from None
        cfg = cfg.model_copy(update={"analysis_width": width})
    if fusion:
        cfg = cfg.model_copy(update={"fusion": LiveConfig(fusion=fusion).fusion})
    if max_attempts:
        cfg = cfg.model_copy(update={"shots": cfg.shots.model_copy(update={"max_attempts": max_attempts})})
    return cfg


def camera_specs(sources: list[str], options: RunOptions, names: list[str] | None = None) -> list[CameraSpec]:
    if not sources:
        raise InputError("give at least one --source", code="no_source")
    specs = []
    for i, url in enumerate(sources):
        name = check_name(names[i], "camera name", "bad_camera") if names else f"cam{i + 1}"
        specs.append(
            CameraSpec(
                name=name,
                url=url,
                loop=options.loop,
                realtime=options.realtime,
                live=options.live or LiveConfig(),
                **(options.camera_overrides or {}),
            )
        )
    return specs


def _runtime_args(ctx: AppContext, watchlist: str, watchlist_id: int) -> dict[str, Any]:
    """Where the cameras run: a Ray cluster when ``settings.ray_address`` is set (with a watchlist
    refresher: a changed list is reloaded and shipped to the cameras), else this machine."""
    st = ctx.settings
    if not st.ray_address:
        return {}
    from openlfr.services.deployments import watchlist_digest

    def digest() -> str:
        with ctx.db.session() as s:
            return watchlist_digest(s, watchlist_id)[0]

    seen = {"digest": digest()}

    def refresh() -> WatchlistIndex | None:
        now = digest()
        if now == seen["digest"]:
            return None
        seen["digest"] = now
        return load_index(ctx, watchlist)[0]

    return {
        "ray_address": st.ray_address,
        "index_refresh": refresh,
        "ray_options": {
            "cpus_per_camera": st.ray_cpus_per_camera,
            "resources": dict(st.ray_resources),
            "init_timeout_s": st.ray_init_timeout_s,
        },
    }


class LiveRun:
    """One live run as its host sees it: the bus its runner publishes on (subscribe before running), a
    stop that works before the runner exists (the run then stops as soon as it starts) and the live view
    (the runner's states and totals, the alert store's status)."""

    def __init__(self, bus: EventBus | None = None) -> None:
        self.bus = bus or EventBus()
        self.runner: CameraRuntime | None = None
        self.stop_reason = ""
        self._spool: SpoolingSink | None = None

    def stop(self, reason: str = "stopped") -> None:
        """Stop the run (safe from a signal handler or another thread); the first reason is kept."""
        if not self.stop_reason:
            self.stop_reason = reason
        runner = self.runner
        if runner is not None:
            runner.stop(reason)

    def store_status(self) -> SpoolStatus | None:
        """The alert store as this run sees it (a deployment's run): ``SpoolingSink.status``."""
        spool = self._spool
        return None if spool is None else spool.status()

    def _attach(self, runner: CameraRuntime, spool: SpoolingSink | None = None) -> None:
        self._spool = spool or self._spool
        self.runner = runner
        if self.stop_reason:
            runner.stop(self.stop_reason)

    def host(self, runner: CameraRuntime, store: AlertSink, watchlist: str, max_seconds: float | None) -> RunSummary:
        """Run ``runner`` as the one live host (``openlfr run``, ``openlfr serve``, on this machine or a Ray
        cluster): the store subscribes to the run's alerts and counters, and each alert it took is announced
        as ``AlertStored`` (the console's push, the CLI's line). A store that refuses (e.g. the deployment
        ended elsewhere) stops the run; its error is raised once the runner has stopped and flushed."""
        failed: list[Exception] = []

        def refused(exc: Exception) -> None:
            if not failed:
                failed.append(exc)
                log.error("the alert store refused (%s); stopping the run", exc)
                runner.stop("store_refused")

        def on_alert(ev: AlertRaised) -> None:
            try:
                store.submit(ev.event.record)
            except Exception as exc:
                refused(exc)
                return
            self.bus.publish(AlertStored(ev.camera, ev.event, watchlist, ev.received_at))

        def on_counters(ev: Counters) -> None:
            try:
                store.count(ev.camera, dict(ev.deltas))
            except Exception as exc:
                refused(exc)

        self.bus.subscribe(AlertRaised, on_alert)
        self.bus.subscribe(Counters, on_counters)
        self._attach(runner, store if isinstance(store, SpoolingSink) else None)
        summary = runner.run(max_seconds=max_seconds)
        if failed:
            raise failed[0]
        return summary


def _record_live_start(
    ctx: AppContext, watchlist: str, watchlist_id: int, size: int, op: OperatingPoint, specs: list[CameraSpec]
) -> None:
    """The audit event of a watchlist run's start: the operating point, the cameras (URLs masked), the models."""
    with ctx.db.session() as s:
        audit.record(
            s,
            ctx.settings.actor,
            "live.start",
            "watchlist",
            watchlist_id,
            {
                "watchlist": watchlist,
                "threshold": op.threshold,
                "watchlist_size": size,
                "threshold_source": op.source,
                "target_fpir": op.target_fpir,
                "cameras": {c.name: mask_url(c.url) for c in specs},
                "models": ctx.engine.model_ids,
            },
        )


def _record_live_stop(ctx: AppContext, watchlist: str, watchlist_id: int, summary: RunSummary) -> None:
    """The audit event of a watchlist run's end: who or what stopped it, its alerts and counters."""
    with ctx.db.session() as s:
        audit.record(
            s,
            ctx.settings.actor,
            "live.stop",
            "watchlist",
            watchlist_id,
            {
                "watchlist": watchlist,
                "stopped_by": summary.stopped_by,
                "alerts": summary.alerts,
                "counters": {c: v["counters"] for c, v in summary.cameras.items()},
            },
        )


def run_watchlist(
    ctx: AppContext,
    watchlist: str,
    sources: list[str],
    *,
    threshold: float | None = None,
    fpir: float | None = None,
    options: RunOptions | None = None,
    run: LiveRun | None = None,
    sink: AlertSink | None = None,
) -> RunResult:
    """Run a watchlist against ``sources`` until they end or ``run.stop``; alerts and counters go to ``sink``
    (default: memory), and subscribers of ``run.bus`` see them (``AlertStored``, ``CameraState``, ...)."""
    opts = options or RunOptions()
    run = run or LiveRun()
    specs = camera_specs(sources, opts)
    index, meta = load_index(ctx, watchlist)
    if index.size == 0:
        raise InputError(f"watchlist {watchlist!r} is empty", code="empty_watchlist")
    op = resolve_for(ctx, index.size, target_fpir=fpir, threshold=threshold)
    thr = op.threshold
    engine_cfg = getattr(ctx, "_engine_config", None) or engine_config_from_settings(ctx.settings)
    _record_live_start(ctx, watchlist, meta.id, index.size, op, specs)
    runner = create_runtime(
        RunInputs(specs, engine_cfg, index, thr, watchlist_id=meta.id),
        run.bus,
        mode=opts.mode,
        engine=ctx.engine,
        **_runtime_args(ctx, watchlist, meta.id),
    )
    summary = run.host(runner, sink or MemorySink(), watchlist, opts.max_seconds)
    _record_live_stop(ctx, watchlist, meta.id, summary)
    return _result(summary, watchlist, index.size, thr, **op_fields(op))


def _result(summary: RunSummary, watchlist: str, size: int, thr: float, **extra: Any) -> RunResult:
    return RunResult(
        cameras=summary.cameras,
        alerts=summary.alerts,
        duration_s=round(summary.duration_s, 3),
        stopped_by=summary.stopped_by,
        watchlist=watchlist,
        watchlist_size=size,
        threshold=thr,
        **extra,
    )


def sources_reason(summary: RunSummary) -> str:
    """Why a run ended by itself: every camera ended (files), failed, or some of each."""
    states = {str(c.get("state")) for c in summary.cameras.values()}
    if states == {"failed"}:
        return "all cameras failed"
    if states <= {"ended"}:
        return "all cameras ended"
    return "all cameras ended or failed"


def run_deployment(
    ctx: AppContext,
    deployment: int | str,
    *,
    options: RunOptions | None = None,
    run: LiveRun | None = None,
    plan: LivePlan | None = None,
) -> RunResult:
    """Run an authorised deployment's cameras until stopped (``run.stop``) or its planned end. It is marked
    live here, unless the caller already did and passes the ``plan`` that ``deployments.mark_live``
    returned (``openlfr serve`` marks it in the request, audited with the user who pressed start).
    Subscribers of ``run.bus`` see the run (``AlertStored``, ``CameraState``, ``PreviewFrame``, and
    ``StoreStatus`` when the alert store becomes unavailable and when it is back)."""
    from openlfr.services import deployments

    opts = options or RunOptions()
    run = run or LiveRun()
    first = plan or deployments.live_plan(ctx, deployment)
    # The engine must be the one the deployment's watchlist was enrolled and authorised with.
    base = engine_config_from_settings(ctx.settings)
    det = first.models.get("detector") or base.detector
    emb = first.models.get("embedder") or base.embedder
    engine_cfg = EngineConfig(
        detector=det,
        embedder=emb,
        detector_options=base.detector_options if det == base.detector else {},
        embedder_options=base.embedder_options if emb == base.embedder else {},
        gate=base.gate,
        models_dir=base.models_dir,
        cache_dir=base.cache_dir,
    )
    run_ctx = AppContext(ctx.settings, engine_config=engine_cfg)
    lease = DeploymentLease(run_ctx, first.deployment_id)
    lease.acquire()  # one runner per deployment: a second one is refused here (deployment_busy)
    try:
        return _run_leased(run_ctx, first, lease, engine_cfg, opts, run, marked=plan is not None)
    finally:
        lease.release()
        run_ctx.close()


def _deployment_specs(plan: LivePlan, opts: RunOptions) -> list[CameraSpec]:
    """The deployment's cameras with the run's options; refused when it has none."""
    specs = [
        CameraSpec(
            name=c.name,
            url=c.url,
            loop=opts.loop,
            realtime=opts.realtime,
            live=opts.live or LiveConfig(),
            **(opts.camera_overrides or {}),
        )
        for c in plan.cameras
    ]
    if not specs:
        raise InputError(f"deployment {plan.deployment_id} has no cameras", code="no_source")
    return specs


def _alert_spool(run_ctx: AppContext, plan: LivePlan, run: LiveRun, actor: str) -> SpoolingSink:
    """The deployment's alert store behind a spool: alerts and counters survive a store outage (spooled,
    encrypted, on disk, and flushed when it is back); its status changes are published on ``run.bus``."""
    from openlfr.services.alerts import StoreAlertSink

    dep_id = plan.deployment_id
    spool = SpoolingSink(run_ctx, StoreAlertSink(run_ctx, dep_id, actor=actor), dep_id)
    spool.on_change = lambda status: run.bus.publish(StoreStatus(dep_id, **status))
    return spool


def _run_leased(
    run_ctx: AppContext,
    plan: LivePlan,
    lease: DeploymentLease,
    engine_cfg: EngineConfig,
    opts: RunOptions,
    run: LiveRun,
    marked: bool,
) -> RunResult:
    from openlfr.services import deployments

    actor = run_ctx.settings.actor
    index, _meta = load_index(run_ctx, plan.watchlist)
    if not marked:  # once per start
        plan = deployments.mark_live(run_ctx, plan.deployment_id, actor)
    specs = _deployment_specs(plan, opts)
    spool = _alert_spool(run_ctx, plan, run, actor)
    dep_id = plan.deployment_id
    left = (plan.planned_end - datetime.now(UTC)).total_seconds()
    max_s = left if opts.max_seconds is None else min(left, opts.max_seconds)
    extra: dict[str, Any] = {"own_session": True} if opts.camera_session else {}
    runner = create_runtime(
        RunInputs(specs, engine_cfg, index, plan.threshold, watchlist_id=plan.watchlist_id, deployment_id=dep_id),
        run.bus,
        mode=opts.mode,
        **extra,
        engine=run_ctx.engine,
        **_runtime_args(run_ctx, plan.watchlist, plan.watchlist_id),
    )
    lease.on_lost = lambda: runner.stop("lease_lost")
    lease.start_renewing()
    try:
        summary = run.host(runner, spool, plan.watchlist, max_s)
    finally:
        left = spool.close(timeout_s=opts.spool_flush_s)
    size = index.size
    del index
    state = _end_state(run_ctx, plan, summary, opts, actor)  # (may name the planned end as what stopped it)
    return _result(
        summary,
        plan.watchlist,
        size,
        plan.threshold,
        deployment_id=dep_id,
        threshold_source=plan.threshold_source,
        target_fpir=plan.target_fpir,
        store={"spooled": spool.spooled, "flushed": spool.flushed, "left_in_spool": left},
        deployment_state=state,
    )


def _end_state(ctx: AppContext, plan: LivePlan, summary: RunSummary, opts: RunOptions, actor: str) -> str:
    """The deployment's state after its run: ended at its planned end, when asked to (``--end``) or when
    every source ended or failed (the state follows its cameras); else still live."""
    from openlfr.services import deployments

    reached_end = datetime.now(UTC) >= plan.planned_end
    if summary.stopped_by == "max_seconds" and reached_end:
        summary.stopped_by = "planned_end"
    sources_done = summary.stopped_by == "end_of_sources" and not opts.loop
    if not (reached_end or opts.end_deployment_on_exit or sources_done):
        return "live"
    reason = "planned_end" if reached_end else (sources_reason(summary) if sources_done else "stopped")
    ended = deployments.mark_ended(ctx, plan.deployment_id, actor, reason=reason)
    return ended.state
