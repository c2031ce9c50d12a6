"""Live deployments inside ``openlfr serve``: one runner per started deployment.

A start validates and marks the deployment live (``services.deployments.mark_live``, audited with
the user who pressed start), then runs ``services.live.run_deployment`` (given that plan: marked once)
in a thread. The console subscribes to the run's event bus: alerts are pushed to the event broker once
stored (``AlertStored``, with the time the runner received them), camera states and the alert store's
status too, and preview frames (already pixelated by the workers, P3) go to a latest-frame hub for the tiles.
A stop ends the runner (counters flushed) and then the deployment (its watchlist is deleted, P4).
On server shutdown runners stop but deployments stay live; the next ``serve`` resumes them.

**Analysis off the request path (issue 18, item 4).** Each camera runs in its own process (``mode``
"process", the default) in a session of its own. Under ``openlfr serve`` the threads that handle
requests run at a lower CPU priority (``OPENLFR_API_REQUEST_NICE``, :func:`lower_request_priority`),
and so does the server's session as a whole where Linux schedules sessions as groups (autogroup:
``/proc/self/autogroup``), so a burst of API requests cannot take the cameras' CPU. A thread or
process started on Linux inherits the niceness of the thread that starts it, and niceness cannot be
lowered again without privilege, so runner threads (which spawn the camera processes) are started by
:class:`Launcher`, a thread made with the server before any request thread was niced.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlfr.api.events import Broker
from openlfr.api.metrics import Metrics
from openlfr.errors import ConflictError, OpenLFRError
from openlfr.redact import mask_url
from openlfr.services import deployments
from openlfr.services import live as live_service
from openlfr.services.context import AppContext
from openlfr.services.live import AlertStored, CameraState, LiveRun, PreviewHub, StoreStatus
from openlfr.services.roles import ROLES
from openlfr.services.spool import SpoolStatus

log = logging.getLogger(__name__)
STAFF = frozenset({"admin", "supervisor", "operator"})


class Launcher:
    """Starts threads from one long-lived thread created with the :class:`LiveManager`, so they (and the
    camera processes they spawn) get its CPU priority, not that of the (niced) request thread asking."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[threading.Thread, threading.Event, list[BaseException]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="live-launcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            th, done, errs = self._jobs.get()
            try:
                th.start()
            except BaseException as exc:  # handed back to the caller
                errs.append(exc)
            done.set()

    def start(self, thread: threading.Thread, timeout: float = 30.0) -> None:
        """``thread.start()`` from the launcher thread; returns once it has started."""
        done, errs = threading.Event(), []  # type: ignore[var-annotated]
        self._jobs.put((thread, done, errs))
        if not done.wait(timeout):
            raise RuntimeError("the live launcher thread did not start a runner in time")
        if errs:
            raise errs[0]


def lower_request_priority(nice: int) -> int:
    """Raise this thread's niceness to ``nice`` (Linux: per thread; threads it starts inherit it). The
    server calls it from its event loop thread before serving, so request handling (the loop and its
    worker threads) yields the CPU to the camera processes. Returns the niceness now (unchanged where
    per-thread priorities are not supported)."""
    if nice <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return 0
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        if now < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        out = os.getpriority(os.PRIO_PROCESS, tid)
    except OSError as exc:
        log.warning("could not lower the request threads' CPU priority: %s", exc)
        return 0
    _lower_autogroup(nice)
    return out


AUTOGROUP = Path("/proc/self/autogroup")


def _lower_autogroup(nice: int) -> None:
    """With Linux's autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``) the CPU is shared
    between sessions first and a thread's niceness only counts inside its session; camera processes run in
    sessions of their own, so the server's session gets the lower weight as well (raising it needs no
    privilege). This affects the session the server runs in (under systemd: the service alone)."""
    try:
        cur = AUTOGROUP.read_text().split()  # "/autogroup-123 nice 0"
        if len(cur) == 3 and int(cur[2]) < nice:
            AUTOGROUP.write_text(str(nice))
    except (OSError, ValueError) as exc:
        log.info("session CPU priority left as is (%s)", exc)


@dataclass
class Run:
    deployment_id: int
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None
    live: LiveRun = field(default_factory=LiveRun)
    """The run's handle: its bus, stop, and live view (runner, the alert store's state)."""
    error: str | None = None
    result: live_service.RunResult | None = None
    stop_reason: str | None = None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def runner(self) -> Any:
        return self.live.runner


ADMINS = frozenset({"admin"})
NOT_ADMINS = frozenset(ROLES) - ADMINS
HIDDEN_DETAIL = "details for admins only"


def for_role(view: dict[str, Any], role: str) -> dict[str, Any]:
    """A camera or run view for ``role``: a camera's error detail and a run's error (which can tell what
    is at a local path or whether a port is open) go to admins only; others see that there is one."""
    if role == "admin":
        return view
    out = dict(view)
    for key in ("detail", "error"):
        if out.get(key):
            out[key] = HIDDEN_DETAIL
    if isinstance(out.get("cameras"), list):
        out["cameras"] = [for_role(c, role) if isinstance(c, dict) else c for c in out["cameras"]]
    if isinstance(out.get("live"), dict):
        out["live"] = for_role(out["live"], role)
    return out


class LiveManager:
    def __init__(
        self,
        ctx: AppContext,
        broker: Broker,
        metrics: Metrics,
        *,
        realtime: bool = True,
        loop_files: bool = False,
        mode: str = "process",
    ) -> None:
        self.ctx = ctx
        self.broker = broker
        self.metrics = metrics
        self.options = live_service.RunOptions(realtime=realtime, loop=loop_files, mode=mode, camera_session=True)
        self.hub = PreviewHub()
        self.runs: dict[int, Run] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._launcher = Launcher()  # created now, at the server's own priority
        metrics.attach_live(self.cameras)

    # ---------------------------------------------------------------- control

    def start(self, deployment_id: int, actor: str) -> dict[str, Any]:
        """Mark live (validated and audited by the service) and run its cameras here."""
        if self._closing.is_set():
            raise ConflictError("the server is shutting down", code="shutting_down")
        with self._lock:
            run = self.runs.get(deployment_id)
            if run is not None and run.alive:
                return self.status(deployment_id)
            plan = deployments.mark_live(self.ctx, deployment_id, actor)
            run = Run(deployment_id)
            self.runs[deployment_id] = run
            run.thread = threading.Thread(
                target=self._run, args=(run, plan), name=f"deployment-{deployment_id}", daemon=True
            )
            self._launcher.start(run.thread)  # not from this (maybe niced) request thread
        self.metrics.live_runs.set(sum(r.alive for r in self.runs.values()))
        return self.status(deployment_id)

    def resume(self) -> list[int]:
        """Run every deployment that is live in the database (after a restart)."""
        started = []
        for dep in deployments.list_all(self.ctx, state="live"):
            try:
                self.start(dep.id, self.ctx.settings.actor)
                started.append(dep.id)
            except OpenLFRError as exc:
                log.warning("deployment %s not resumed: %s", dep.id, exc)
        return started

    def stop_runner(self, deployment_id: int, reason: str = "stopped", timeout: float = 60.0) -> None:
        run = self.runs.get(deployment_id)
        if run is None:
            return
        run.stop_reason = reason
        run.live.stop(reason)
        if run.thread is not None:
            run.thread.join(timeout)

    def stop(self, deployment_id: int, actor: str) -> deployments.DeploymentEnded:
        """Stop the cameras (counters flushed), then end the deployment (watchlist deleted)."""
        self.stop_runner(deployment_id, "stopped")
        out = deployments.mark_ended(self.ctx, deployment_id, actor, reason="stopped")
        run = self.runs.pop(deployment_id, None)
        if run is not None and run.runner is not None:
            self.hub.forget(*(f"{deployment_id}/{c.name}" for c in run.runner.cameras))
        self.broker.publish("deployment", {"deployment_id": deployment_id, "state": out.state})
        self.metrics.live_runs.set(sum(r.alive for r in self.runs.values()))
        return out

    def shutdown(self, timeout: float = 30.0) -> None:
        self._closing.set()
        for dep_id in list(self.runs):
            run = self.runs[dep_id]
            if run.alive:
                run.stop_reason = "server shutdown"
                run.live.stop("server shutdown")
        deadline = time.monotonic() + timeout
        for run in list(self.runs.values()):
            if run.thread is not None:
                run.thread.join(max(0.1, deadline - time.monotonic()))

    # ---------------------------------------------------------------- the runner thread

    def _run(self, run: Run, plan: deployments.LivePlan) -> None:
        dep_id = run.deployment_id
        self._subscribe(run)
        if run.stop_reason or self._closing.is_set():
            run.live.stop(run.stop_reason or "server shutdown")
        threading.Thread(target=self._watch, args=(run,), name=f"watch-{dep_id}", daemon=True).start()
        try:
            run.result = live_service.run_deployment(self.ctx, dep_id, options=self.options, run=run.live, plan=plan)
        except OpenLFRError as exc:
            run.error = mask_url(f"{exc.code}: {exc.message}")
            log.warning("deployment %s stopped: %s", dep_id, run.error)
        except Exception as exc:
            run.error = mask_url(f"internal error: {exc!r}")
            log.exception("deployment %s runner failed", dep_id)
        finally:
            state: str | None
            try:  # the runner may have ended the deployment (every source ended or failed)
                state = deployments.state_of(self.ctx, dep_id)
            except OpenLFRError:
                state = None
            self.broker.publish(
                "deployment", {"deployment_id": dep_id, "running": False, "error": run.error, "state": state}
            )

    def _subscribe(self, run: Run) -> None:
        """The console's subscriptions to a run's bus: stored alerts, camera states and the store's state
        pushed to the consoles, preview frames to the tiles' hub."""
        dep_id = run.deployment_id
        bus = run.live.bus

        def on_state(ev: CameraState) -> None:
            data = {
                "deployment_id": dep_id,
                "camera": ev.camera,
                "state": str(ev.state.value),
                "detail": mask_url(ev.detail),
            }
            self.broker.publish("camera", data, roles=ADMINS)
            self.broker.publish("camera", for_role(data, "-"), roles=NOT_ADMINS)

        def on_store(ev: StoreStatus) -> None:
            # pushed to consoles already connected: while the database is down, new requests cannot log in
            self.broker.publish("store", ev.to_dict(), roles=STAFF)
            self.metrics.store_unavailable.labels(str(dep_id)).set(int(ev.state == "unavailable"))

        bus.subscribe(
            AlertStored,
            lambda ev: self.alert_stored(
                run, live_service.live_alert(ev.event, ev.watchlist).to_dict(), worker_at=ev.received_at
            ),
        )
        bus.subscribe(CameraState, on_state)
        bus.subscribe(StoreStatus, on_store)
        self.hub.subscribe(bus, prefix=f"{dep_id}/")

    def alert_stored(self, run: Run, payload: dict[str, Any], worker_at: float | None = None) -> None:
        """The runner stored an alert (``services.live.LiveAlert.to_dict()``; ``worker_at``: when the runner
        received it): push it to the console."""
        data = {**payload, "worker_at": worker_at}
        self.broker.publish("alert", data, roles=STAFF)
        self.metrics.alerts.labels(str(run.deployment_id), str(payload.get("camera"))).inc()
        if isinstance(payload.get("latency_s"), int | float):
            self.metrics.alert_latency.observe(max(0.0, float(payload["latency_s"])))

    def _watch(self, run: Run) -> None:
        """Stop the runner if the deployment stops being live elsewhere (CLI, planned end)."""
        while run.alive and not self._closing.is_set():
            time.sleep(2.0)
            try:
                state = deployments.state_of(self.ctx, run.deployment_id)
            except OpenLFRError:
                state = "unknown"
            if state != "live" and run.alive:
                run.stop_reason = f"deployment is {state}"
                run.live.stop(run.stop_reason)
                return

    # ---------------------------------------------------------------- views

    def status(self, deployment_id: int) -> dict[str, Any]:
        run = self.runs.get(deployment_id)
        if run is None:
            return {"deployment_id": deployment_id, "running": False, "cameras": []}
        return {
            "deployment_id": deployment_id,
            "running": run.alive,
            "error": run.error,
            "stop_reason": run.stop_reason,
            "started": run.started,
            "store": self.store_status(run),
            "cameras": [c for c in self.cameras() if c["deployment_id"] == deployment_id],
        }

    @staticmethod
    def store_status(run: Run) -> SpoolStatus | None:
        """The alert store as this run sees it: ``state`` ok | unavailable (alerts and counters are being
        spooled on disk) | flushing (back; the spool is being written), ``spooled``, ``flushed``, ``pending``."""
        return run.live.store_status()

    def cameras(self) -> list[dict[str, Any]]:
        out = []
        for dep_id, run in sorted(self.runs.items()):
            runner = run.runner
            if runner is None:
                continue
            for spec in runner.cameras:
                state = runner.states.get(spec.name)
                latest = self.hub.latest(f"{dep_id}/{spec.name}")
                out.append(
                    {
                        "deployment_id": dep_id,
                        "camera": spec.name,
                        "state": str(getattr(state, "value", state)),
                        "detail": runner.details.get(spec.name, ""),
                        "counters": {k: int(v) for k, v in dict(runner.totals.get(spec.name, {})).items()},
                        "running": run.alive,
                        "preview": latest is not None,
                        "store": self.store_status(run),
                        "preview_age_s": None
                        if latest is None
                        else round(time.time() - latest[1], 1)
                        if latest[1] > 1e9
                        else None,
                    }
                )
        return out

    def preview(self, deployment_id: int, camera: str) -> tuple[bytes, float, int] | None:
        return self.hub.latest(f"{deployment_id}/{camera}")
