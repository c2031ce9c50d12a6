"""Live deployments inside ``openlfr serve``: one runner per started deployment.

A start validates and marks the deployment live (``services.deployments.mark_live``, audited with
the user who pressed start), then runs ``services.live.run_deployment`` in a thread with the
console's callbacks: alerts are pushed to the event broker once stored, camera states too, and
preview frames (already pixelated by the workers, P3) go to a latest-frame hub for the tiles.
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
from openlfr.engine.sources import mask_url
from openlfr.errors import ConflictError, OpenLFRError
from openlfr.runtime.preview import PreviewHub
from openlfr.services import deployments
from openlfr.services import live as live_service
from openlfr.services.context import AppContext
from openlfr.services.roles import ROLES

log = logging.getLogger(__name__)
STAFF = frozenset({"admin", "supervisor", "operator"})


class Launcher:
    """Starts threads from one long-lived thread created with the :class:`LiveManager`, so they (and the
    camera processes they spawn) get its CPU priority, not that of the (niced) request thread asking."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[threading.Thread, threading.Event, list[BaseException]]] = \
            queue.SimpleQueue()
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
    runner: Any = None
    error: str | None = None
    result: dict[str, Any] | None = None
    stop_reason: str | None = None
    received: dict[str, float] = field(default_factory=dict)
    spool: Any = None
    """The run's ``SpoolingSink``: the alert store's state (ok, unavailable, flushing) for the console."""

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class _Hub(PreviewHub):
    """The latest preview frame per camera; frames of an ended deployment are dropped."""

    def forget(self, *cameras: str) -> None:
        with self._cond:
            for c in cameras:
                self._frames.pop(c, None)


class _StampSink:
    """Wraps the runner's sink: notes when the runner received each alert (push latency)."""

    def __init__(self, inner: Any, received: dict[str, float]) -> None:
        self.inner = inner
        self.received = received

    def submit(self, alert: Any) -> None:
        self.received[alert.alert_id] = time.time()
        self.inner.submit(alert)

    def count(self, camera: str, deltas: dict[str, int]) -> None:
        self.inner.count(camera, deltas)


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
    def __init__(self, ctx: AppContext, broker: Broker, metrics: Metrics, *, realtime: bool = True,
                 loop_files: bool = False, mode: str = "process") -> None:
        self.ctx = ctx
        self.broker = broker
        self.metrics = metrics
        self.options = live_service.RunOptions(realtime=realtime, loop=loop_files, mode=mode, camera_session=True)
        self.hub = _Hub()
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
            deployments.mark_live(self.ctx, deployment_id, actor)
            run = Run(deployment_id)
            self.runs[deployment_id] = run
            run.thread = threading.Thread(target=self._run, args=(run,), name=f"deployment-{deployment_id}",
                                          daemon=True)
            self._launcher.start(run.thread)  # not from this (maybe niced) request thread
        self.metrics.live_runs.set(sum(r.alive for r in self.runs.values()))
        return self.status(deployment_id)

    def resume(self) -> list[int]:
        """Run every deployment that is live in the database (after a restart)."""
        started = []
        for dep in deployments.list_all(self.ctx, state="live"):
            try:
                self.start(int(dep["id"]), self.ctx.settings.actor)
                started.append(int(dep["id"]))
            except OpenLFRError as exc:
                log.warning("deployment %s not resumed: %s", dep["id"], exc)
        return started

    def stop_runner(self, deployment_id: int, reason: str = "stopped", timeout: float = 60.0) -> None:
        run = self.runs.get(deployment_id)
        if run is None:
            return
        run.stop_reason = reason
        if run.runner is not None:
            run.runner.stop(reason)
        if run.thread is not None:
            run.thread.join(timeout)

    def stop(self, deployment_id: int, actor: str) -> dict[str, Any]:
        """Stop the cameras (counters flushed), then end the deployment (watchlist deleted)."""
        self.stop_runner(deployment_id, "stopped")
        out = deployments.mark_ended(self.ctx, deployment_id, actor, reason="stopped")
        run = self.runs.pop(deployment_id, None)
        if run is not None and run.runner is not None:
            self.hub.forget(*(f"{deployment_id}/{c.name}" for c in run.runner.cameras))
        self.broker.publish("deployment", {"deployment_id": deployment_id, "state": out.get("state")})
        self.metrics.live_runs.set(sum(r.alive for r in self.runs.values()))
        return out

    def shutdown(self, timeout: float = 30.0) -> None:
        self._closing.set()
        for dep_id in list(self.runs):
            run = self.runs[dep_id]
            if run.alive:
                run.stop_reason = "server shutdown"
                if run.runner is not None:
                    run.runner.stop("server shutdown")
        deadline = time.monotonic() + timeout
        for run in list(self.runs.values()):
            if run.thread is not None:
                run.thread.join(max(0.1, deadline - time.monotonic()))

    # ---------------------------------------------------------------- the runner thread

    def _run(self, run: Run) -> None:
        dep_id = run.deployment_id

        def hook(runner: Any) -> None:
            runner.sink = _StampSink(runner.sink, run.received)
            run.runner = runner
            if run.stop_reason or self._closing.is_set():
                runner.stop(run.stop_reason or "server shutdown")
            threading.Thread(target=self._watch, args=(run,), name=f"watch-{dep_id}", daemon=True).start()

        def on_alert(payload: dict[str, Any]) -> None:
            self.alert_stored(run, payload)

        def on_state(camera: str, state: Any, detail: str) -> None:
            ev = {"deployment_id": dep_id, "camera": camera, "state": str(getattr(state, "value", state)),
                  "detail": mask_url(detail)}
            self.broker.publish("camera", ev, roles=ADMINS)
            self.broker.publish("camera", for_role(ev, "-"), roles=NOT_ADMINS)

        def on_preview(camera: str, jpeg: bytes, t: float) -> None:
            self.hub.update(f"{dep_id}/{camera}", jpeg, t)

        def on_store(status: dict[str, Any]) -> None:
            # pushed to consoles already connected: while the database is down, new requests cannot log in
            self.broker.publish("store", {"deployment_id": dep_id, **status}, roles=STAFF)
            self.metrics.store_unavailable.labels(str(dep_id)).set(int(status["state"] == "unavailable"))

        def spool_hook(spool: Any) -> None:
            run.spool = spool

        try:
            run.result = live_service.run_deployment(self.ctx, dep_id, options=self.options, on_alert=on_alert,
                                                     on_state=on_state, on_preview=on_preview, runner_hook=hook,
                                                     on_store=on_store, spool_hook=spool_hook)
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
            self.broker.publish("deployment", {"deployment_id": dep_id, "running": False, "error": run.error,
                                               "state": state})

    def alert_stored(self, run: Run, payload: dict[str, Any]) -> None:
        """The runner stored an alert (``services.live.alert_json`` payload): push it to the console."""
        at = run.received.pop(str(payload.get("alert_id")), None)
        data = {**payload, "worker_at": at}
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
            if state != "live" and run.runner is not None and run.alive:
                run.stop_reason = f"deployment is {state}"
                run.runner.stop(run.stop_reason)
                return

    # ---------------------------------------------------------------- views

    def status(self, deployment_id: int) -> dict[str, Any]:
        run = self.runs.get(deployment_id)
        if run is None:
            return {"deployment_id": deployment_id, "running": False, "cameras": []}
        return {"deployment_id": deployment_id, "running": run.alive, "error": run.error,
                "stop_reason": run.stop_reason, "started": run.started, "store": self.store_status(run),
                "cameras": [c for c in self.cameras() if c["deployment_id"] == deployment_id]}

    @staticmethod
    def store_status(run: Run) -> dict[str, Any] | None:
        """The alert store as this run sees it: ``state`` ok | unavailable (alerts and counters are being
        spooled on disk) | flushing (back; the spool is being written), ``spooled``, ``flushed``, ``pending``."""
        spool = run.spool
        return None if spool is None else dict(spool.status())

    def cameras(self) -> list[dict[str, Any]]:
        out = []
        for dep_id, run in sorted(self.runs.items()):
            runner = run.runner
            if runner is None:
                continue
            for spec in runner.cameras:
                state = runner.states.get(spec.name)
                latest = self.hub.latest(f"{dep_id}/{spec.name}")
                out.append({"deployment_id": dep_id, "camera": spec.name,
                            "state": str(getattr(state, "value", state)),
                            "detail": runner.details.get(spec.name, ""),
                            "counters": {k: int(v) for k, v in dict(runner.totals.get(spec.name, {})).items()},
                            "running": run.alive, "preview": latest is not None, "store": self.store_status(run),
                            "preview_age_s": None if latest is None else round(time.time() - latest[1], 1)
                            if latest[1] > 1e9 else None})
        return out

    def preview(self, deployment_id: int, camera: str) -> tuple[bytes, float, int] | None:
        return self.hub.latest(f"{deployment_id}/{camera}")
