"""Live recognition (LFR) use case: a watchlist against one or more streams.

Two ways in:
- ``watchlist`` mode (``openlfr run --watchlist NAME --source URL ...``): alerts go to the
  caller (JSON lines on stdout) and to an in-memory sink; the run's start, end and counters are
  written to the audit log.
- ``deployment`` mode (``openlfr run --deployment ID``): the deployment's plan (watchlist,
  threshold, cameras, models) from ``services.deployments``; alerts and counters go to the
  deployment's alert store (``services.alerts.StoreAlertSink``). The run stops at the planned end
  at the latest, and then ends the deployment (its watchlist is deleted, P4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openlfr.engine.live import AlertEvent, LiveConfig
from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import EngineConfig
from openlfr.engine.sources import mask_url
from openlfr.errors import InputError
from openlfr.names import check_name
from openlfr.runtime.camera_runtime import create_runtime
from openlfr.runtime.sinks import AlertSink, MemorySink
from openlfr.runtime.workers import CameraSpec, RunSummary, SourceState
from openlfr.services.context import AppContext, engine_config_from_settings
from openlfr.services.lease import DeploymentLease
from openlfr.services.operating_point import op_fields, resolve_for
from openlfr.services.spool import SpoolingSink
from openlfr.services.watchlists import load_index
from openlfr.storage import audit

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


def alert_json(ev: AlertEvent, watchlist: str) -> dict[str, Any]:
    """One alert as a JSON-safe dict (no images: those stay with the alert store)."""
    r = ev.record
    return {"alert_id": r.alert_id, "camera": r.camera, "watchlist": watchlist, "person_id": r.person_id,
            "name": ev.name, "score": round(r.score, 6), "threshold": r.threshold, "track_id": r.track_id,
            "occurred_at": r.occurred_at.isoformat(), "t": round(ev.t, 3),
            "latency_s": round(ev.t - ev.track_first_t, 3), "shots": ev.shots,
            "box": [round(v, 1) for v in r.box], "deployment_id": r.deployment_id}


def camera_specs(sources: list[str], options: RunOptions, names: list[str] | None = None) -> list[CameraSpec]:
    if not sources:
        raise InputError("give at least one --source", code="no_source")
    specs = []
    for i, url in enumerate(sources):
        name = check_name(names[i], "camera name", "bad_camera") if names else f"cam{i + 1}"
        specs.append(CameraSpec(name=name, url=url, loop=options.loop, realtime=options.realtime,
                                live=options.live or LiveConfig(), **(options.camera_overrides or {})))
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

    return {"ray_address": st.ray_address, "index_refresh": refresh,
            "ray_options": {"cpus_per_camera": st.ray_cpus_per_camera, "resources": dict(st.ray_resources),
                            "init_timeout_s": st.ray_init_timeout_s}}


class _TeeSink:
    """Forwards to a sink and keeps totals (for the summary)."""

    def __init__(self, inner: AlertSink) -> None:
        self.inner = inner
        self.submitted = 0

    def submit(self, alert: Any) -> None:
        self.inner.submit(alert)
        self.submitted += 1

    def count(self, camera: str, deltas: dict[str, int]) -> None:
        self.inner.count(camera, deltas)


def run_watchlist(ctx: AppContext, watchlist: str, sources: list[str], *, threshold: float | None = None,
                  fpir: float | None = None, options: RunOptions | None = None,
                  on_alert: Callable[[dict[str, Any]], None] | None = None,
                  on_state: Callable[[str, SourceState, str], None] | None = None,
                  on_preview: Callable[[str, bytes, float], None] | None = None,
                  sink: AlertSink | None = None,
                  runner_hook: Callable[[Any], None] | None = None) -> dict[str, Any]:
    opts = options or RunOptions()
    specs = camera_specs(sources, opts)
    index, meta = load_index(ctx, watchlist)
    if index.size == 0:
        raise InputError(f"watchlist {watchlist!r} is empty", code="empty_watchlist")
    op = resolve_for(ctx, index.size, target_fpir=fpir, threshold=threshold)
    thr = op.threshold
    engine_cfg = getattr(ctx, "_engine_config", None) or engine_config_from_settings(ctx.settings)
    mem = sink or MemorySink()
    tee = _TeeSink(mem)
    actor = ctx.settings.actor
    with ctx.db.session() as s:
        audit.record(s, actor, "live.start", "watchlist", meta["id"],
                     {"watchlist": watchlist, "threshold": thr, "watchlist_size": index.size,
                      "threshold_source": op.source, "target_fpir": op.target_fpir,
                      "cameras": {c.name: mask_url(c.url) for c in specs}, "models": ctx.engine.model_ids})
    runner = create_runtime(specs, engine_cfg, index, thr, tee, mode=opts.mode, watchlist_id=meta["id"],
                        engine=ctx.engine, **_runtime_args(ctx, watchlist, meta["id"]),
                        on_alert=(lambda cam, ev: on_alert(alert_json(ev, watchlist))) if on_alert else None,
                        on_state=on_state, on_preview=on_preview)
    if runner_hook:
        runner_hook(runner)
    summary = runner.run(max_seconds=opts.max_seconds)
    out = _summary_dict(summary, watchlist, index.size, thr)
    out.update(op_fields(op))
    with ctx.db.session() as s:
        audit.record(s, actor, "live.stop", "watchlist", meta["id"],
                     {"watchlist": watchlist, "stopped_by": summary.stopped_by, "alerts": summary.alerts,
                      "counters": {c: v["counters"] for c, v in summary.cameras.items()}})
    return out


def _summary_dict(summary: RunSummary, watchlist: str, size: int, thr: float) -> dict[str, Any]:
    d = summary.to_dict()
    d.update({"watchlist": watchlist, "watchlist_size": size, "threshold": thr})
    return d


def sources_reason(summary: RunSummary) -> str:
    """Why a run ended by itself: every camera ended (files), failed, or some of each."""
    states = {str(c.get("state")) for c in summary.cameras.values()}
    if states == {"failed"}:
        return "all cameras failed"
    if states <= {"ended"}:
        return "all cameras ended"
    return "all cameras ended or failed"


def run_deployment(ctx: AppContext, deployment: int | str, *, options: RunOptions | None = None,
                   on_alert: Callable[[dict[str, Any]], None] | None = None,
                   on_state: Callable[[str, SourceState, str], None] | None = None,
                   on_preview: Callable[[str, bytes, float], None] | None = None,
                   runner_hook: Callable[[Any], None] | None = None,
                   on_store: Callable[[dict[str, Any]], None] | None = None,
                   spool_hook: Callable[[SpoolingSink], None] | None = None) -> dict[str, Any]:
    """Run an authorised deployment's cameras until stopped or its planned end. ``on_store`` gets the
    alert store's state (``SpoolingSink.status``) when it becomes unavailable and when it is back;
    ``spool_hook`` gets the run's spool (the console reads its status)."""
    from openlfr.services import deployments

    opts = options or RunOptions()
    actor = ctx.settings.actor
    plan = deployments.live_plan(ctx, deployment)
    # The engine must be the one the deployment's watchlist was enrolled and authorised with.
    base = engine_config_from_settings(ctx.settings)
    det = plan.models.get("detector") or base.detector
    emb = plan.models.get("embedder") or base.embedder
    engine_cfg = EngineConfig(detector=det, embedder=emb,
                              detector_options=base.detector_options if det == base.detector else {},
                              embedder_options=base.embedder_options if emb == base.embedder else {},
                              gate=base.gate, models_dir=base.models_dir, cache_dir=base.cache_dir)
    run_ctx = AppContext(ctx.settings, engine_config=engine_cfg)
    lease = DeploymentLease(run_ctx, plan.deployment_id)
    lease.acquire()  # one runner per deployment: a second one is refused here (deployment_busy)
    try:
        return _run_leased(run_ctx, plan, lease, engine_cfg, opts, actor, on_alert, on_state, on_preview,
                           runner_hook, on_store, spool_hook)
    finally:
        lease.release()
        run_ctx.close()


def _run_leased(run_ctx: AppContext, plan: Any, lease: DeploymentLease, engine_cfg: EngineConfig,
                opts: RunOptions, actor: str, on_alert: Callable[[dict[str, Any]], None] | None,
                on_state: Callable[[str, SourceState, str], None] | None,
                on_preview: Callable[[str, bytes, float], None] | None,
                runner_hook: Callable[[Any], None] | None,
                on_store: Callable[[dict[str, Any]], None] | None = None,
                spool_hook: Callable[[SpoolingSink], None] | None = None) -> dict[str, Any]:
    from openlfr.services import deployments
    from openlfr.services.alerts import StoreAlertSink

    index, _meta = load_index(run_ctx, plan.watchlist)
    plan = deployments.mark_live(run_ctx, plan.deployment_id, actor)
    specs = [CameraSpec(name=c.name, url=c.url, loop=opts.loop, realtime=opts.realtime,
                        live=opts.live or LiveConfig(), **(opts.camera_overrides or {})) for c in plan.cameras]
    if not specs:
        raise InputError(f"deployment {plan.deployment_id} has no cameras", code="no_source")
    # alerts and counters survive a store outage: spooled (encrypted, on disk) and flushed when it is back
    spool = SpoolingSink(run_ctx, StoreAlertSink(run_ctx, plan.deployment_id, actor=actor), plan.deployment_id)
    spool.on_change = on_store
    if spool_hook:
        spool_hook(spool)
    sink = _TeeSink(spool)
    left = (plan.planned_end - datetime.now(UTC)).total_seconds()
    max_s = left if opts.max_seconds is None else min(left, opts.max_seconds)
    extra: dict[str, Any] = {"own_session": True} if opts.camera_session else {}
    runner = create_runtime(specs, engine_cfg, index, plan.threshold, sink, mode=opts.mode, **extra,
                        watchlist_id=plan.watchlist_id, deployment_id=plan.deployment_id,
                        engine=run_ctx.engine, **_runtime_args(run_ctx, plan.watchlist, plan.watchlist_id),
                        on_alert=(lambda cam, ev: on_alert(alert_json(ev, plan.watchlist))) if on_alert else None,
                        on_state=on_state, on_preview=on_preview)
    if runner_hook:
        runner_hook(runner)
    lease.on_lost = lambda: runner.stop("lease_lost")
    lease.start_renewing()
    try:
        summary = runner.run(max_seconds=max_s)
    finally:
        left = spool.close(timeout_s=opts.spool_flush_s)
    reached_end = datetime.now(UTC) >= plan.planned_end
    if summary.stopped_by == "max_seconds" and reached_end:
        summary.stopped_by = "planned_end"
    out = _summary_dict(summary, plan.watchlist, index.size, plan.threshold)
    out["deployment_id"] = plan.deployment_id
    out["store"] = {"spooled": spool.spooled, "flushed": spool.flushed, "left_in_spool": left}
    out.update({"threshold_source": plan.threshold_source, "target_fpir": plan.target_fpir})
    del index
    sources_done = summary.stopped_by == "end_of_sources" and not opts.loop
    if reached_end or opts.end_deployment_on_exit or sources_done:
        # the deployment's state follows its cameras: ended when every source has ended or failed
        reason = "planned_end" if reached_end else (sources_reason(summary) if sources_done else "stopped")
        ended = deployments.mark_ended(run_ctx, plan.deployment_id, actor, reason=reason)
        out["deployment_state"] = ended.get("state", "ended")
    else:
        out["deployment_state"] = "live"
    return out
