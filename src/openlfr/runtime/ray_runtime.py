"""Cameras across a Ray cluster: one actor per camera, placed by resources; alerts and counters
come back to the central process, whose dispatcher publishes them on the run's event bus as the
single-machine runtime does (``runtime/dispatch.py``).

    central process (openlfr serve / openlfr run)            analysis nodes (ray start --address ...)
    RayRunner.run()  --ray.put(watchlist index)-->  object store  -->  CameraActor (camera 1)
        | poll(ack) every poll_s  <-- alerts, counters, states, checkpoints --   CameraActor (camera 2)
        v                                                                         ...
    EventBus  ->  alert store (PostgreSQL), console

**Placement.** Each camera actor asks for ``cpus_per_camera`` CPUs, ``gpus_per_camera`` GPUs and
the custom ``resources`` of :class:`RayOptions` (plus per-camera ``camera_resources``: start a
node with ``ray start --resources '{"site_north": 4}'`` and give its cameras ``{"site_north": 1}``
to pin them there). Actors are spread over the nodes (Ray's ``SPREAD`` strategy) unless
``spread`` is off.

**The watchlist** is put once into Ray's object store; every actor reads it from its node's
store. When ``index_refresh`` (polled every ``refresh_s``) returns a new index, it is put again and
each actor switches to it before its next frame.

**Faults.** A poll that fails because the actor or its node died, or that stays unanswered for
``actor_timeout_s``, marks the camera ``connecting``; the actor is killed and a new one is
created (Ray places it on a node with free resources), first at once, then with back-off. A
file camera resumes from the last checkpoint the central process received and neither loses nor
repeats an alert or a counter (see :mod:`openlfr.runtime.ray_actor`); a live stream resumes on
the frames that arrive from then on. Alerts are also de-duplicated here by id before they reach
the bus, and the alert store is idempotent on them.

**What crosses the network** from an actor: alert records, counter deltas, camera states,
checkpoints (times, a track number) and, only when the console asked for previews, redacted
preview JPEGs (mosaic except an alerted person, P3). ``on_message`` sees every one of them (tests use it to check this).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from pydantic import BaseModel, ConfigDict, Field

from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.sources import mask_url
from openlfr.errors import ConfigError, OpenLFRError
from openlfr.runtime.events import EventBus
from openlfr.runtime.ray_actor import CameraActor, FrameCounts, Resume
from openlfr.runtime.replay import replay_key, replayable
from openlfr.runtime.workers import (
    AlertMsg,
    CameraSpec,
    CountEvent,
    PreviewMsg,
    RunInputs,
    RunnerBase,
    RunSummary,
    SourceState,
    StateEvent,
    WorkerDone,
)

log = logging.getLogger(__name__)
NODE_ID_LABEL = "ray.io/node-id"
"""Ray's built-in node label (used to keep a replacement off the node its camera just lost)."""


class RayOptions(BaseModel):
    """How cameras are placed and watched on a Ray cluster."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        ...,
        min_length=1,
        description="The cluster's address (the head's host:port, as given to `ray start "
        "--address`), or 'auto' on a node of the cluster.",
    )
    namespace: str = Field("openlfr", min_length=1, max_length=100, description="Ray namespace of the actors.")
    cpus_per_camera: float = Field(1.0, ge=0.0, le=256.0, description="CPUs each camera actor reserves.")
    gpus_per_camera: float = Field(0.0, ge=0.0, le=16.0, description="GPUs each camera actor reserves.")
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom resources every camera actor needs "
        '(e.g. {"openlfr_analysis": 1} to keep cameras off '
        "the head node).",
    )
    camera_resources: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Extra resources per camera name (node labels: a camera that needs "
        '{"site_north": 1} runs only on nodes started with that resource).',
    )
    spread: bool = Field(True, description="Spread camera actors over the nodes (else Ray's default packing).")
    poll_s: float = Field(0.2, gt=0.0, le=10.0, description="How often each actor's outbox is polled.")
    actor_timeout_s: float = Field(
        20.0, gt=0.0, le=600.0, description="An actor that leaves a poll unanswered this long is replaced."
    )
    max_restarts: int | None = Field(
        20, ge=0, description="Replacements per camera before it is 'failed' (None: never give up)."
    )
    backoff_base_s: float = Field(0.5, gt=0.0, le=60.0)
    backoff_max_s: float = Field(15.0, gt=0.0, le=600.0)
    refresh_s: float = Field(10.0, gt=0.0, le=3600.0, description="How often the watchlist is checked for changes.")
    connect_timeout_s: float = Field(
        5.0, gt=0.0, le=600.0, description="How long the head may take to accept a connection."
    )
    init_timeout_s: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="How long ``ray.init`` may take once the head accepted the connection "
        "(a head that accepts and never answers: ``ray_unreachable`` then).",
    )
    stop_timeout_s: float = Field(
        30.0, gt=0.0, le=600.0, description="How long a stop waits for cameras to flush before killing them."
    )


# ---- the connection to the cluster (shared by every runner in this process) ---------------------

_conn_lock = threading.Lock()
_conn_users = 0
_conn_ours = False


def probe_head(address: str | None, timeout_s: float) -> None:
    """Fail fast when the head does not answer: ``ray.init`` to a dead address retries for minutes and
    does not return to let SIGTERM stop the run. A TCP connect to ``host:port`` (or ``ray://host:port``)
    within ``timeout_s``, else ``ConfigError`` (``ray_unreachable``). ``auto``/``local``/unset: no probe."""
    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, sep, port_s = hostport.rstrip("/").rpartition(":")
    if not sep or not port_s.isdigit():
        return
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port_s)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(
            f"the Ray head at {address} does not answer ({exc.strerror or type(exc).__name__} "
            f"within {timeout_s:g}s): start it (`ray start --head`) or fix --ray-address",
            code="ray_unreachable",
        ) from None


_init_thread: threading.Thread | None = None
_init_error: list[BaseException] = []


def _init_in_thread(opts: RayOptions, stop: threading.Event | None) -> None:
    """``ray.init`` in a daemon thread, waited for up to ``opts.init_timeout_s`` by the caller, who stays
    free to notice ``stop`` (set by a SIGTERM/SIGINT handler, which runs in the main thread between waits).
    A head that accepts the TCP connection and then never answers would otherwise hold ``ray.init`` (and
    the process, deaf to SIGTERM) for minutes. A timed-out ``ray.init`` is left to finish or fail on its
    own; a later connect in this process waits for that same attempt instead of starting another."""
    global _init_thread
    if _init_thread is None or not _init_thread.is_alive():
        _init_error.clear()

        def init() -> None:
            try:
                ray.init(
                    address=opts.address, namespace=opts.namespace, log_to_driver=False, logging_level=logging.WARNING
                )
            except BaseException as exc:  # handed to the waiting caller
                _init_error.append(exc)

        _init_thread = threading.Thread(target=init, name="ray-init", daemon=True)
        _init_thread.start()
    thread = _init_thread
    t0 = time.monotonic()
    deadline = t0 + opts.init_timeout_s
    while thread.is_alive():
        if stop is not None and stop.is_set():
            raise ConfigError(
                f"stopped after {time.monotonic() - t0:.1f}s while waiting for the Ray head at "
                f"{opts.address} to answer (ray.init had not returned)",
                code="ray_unreachable",
            )
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"the Ray head at {opts.address} accepted the connection but ray.init did not "
                f"complete within {opts.init_timeout_s:g}s (is it a Ray head, of a compatible "
                f"version, and are its ports reachable from here?)",
                code="ray_unreachable",
            )
        thread.join(0.1)
    if _init_error:
        exc = _init_error[0]
        if isinstance(exc, ConnectionError | ValueError | RuntimeError):
            raise ConfigError(
                f"cannot connect to the Ray cluster at {opts.address}: {exc}", code="ray_unreachable"
            ) from exc
        raise exc


def connect(opts: RayOptions, stop: threading.Event | None = None) -> None:
    """Connect this process to the cluster (once; later runners share the connection). ``ray.init`` runs
    under ``opts.init_timeout_s`` and ends early when ``stop`` is set (see :func:`_init_in_thread`)."""
    global _conn_users, _conn_ours
    with _conn_lock:
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            probe_head(opts.address, opts.connect_timeout_s)
            _init_in_thread(opts, stop)
            _conn_ours = True
        _conn_users += 1


def release() -> None:
    """Drop this runner's use of the connection; the last one disconnects (if it connected)."""
    global _conn_users, _conn_ours
    with _conn_lock:
        _conn_users = max(0, _conn_users - 1)
        if _conn_users == 0 and _conn_ours and ray.is_initialized():
            ray.shutdown()
            _conn_ours = False


# ---- the runner -------------------------------------------------------------------------------------


@dataclass
class _Slot:
    spec: CameraSpec
    replay: bool
    handle: Any = None
    incarnation: int = 0
    ack: int = 0
    start_ref: Any = None
    poll_ref: Any = None
    poll_sent: float = 0.0
    last_poll: float = 0.0
    started: bool = False
    node: dict[str, Any] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    counted_through: float | None = None
    finished: bool = False
    done: bool = False
    stop_sent: bool = False
    failures: int = 0
    restarts: int = 0
    spawn_at: float = 0.0
    spawned: float = 0.0
    avoid: set[str] = field(default_factory=set)
    """Nodes where this camera's actor was just lost: the replacement goes elsewhere if it can (Ray may
    take seconds to declare a killed node dead and would otherwise place the replacement there)."""
    excluding: bool = False


class RayRunner(RunnerBase):
    """Runs cameras as Ray actors; same construction and live view as :class:`LiveRunner`."""

    def __init__(
        self,
        run: RunInputs,
        bus: EventBus,
        *,
        ray: RayOptions,
        on_message: Callable[[str, Any], None] | None = None,
        index_refresh: Callable[[], WatchlistIndex | None] | None = None,
        flush_s: float = 1.0,
    ) -> None:
        self._setup(run, bus, flush_s)
        cameras = run.cameras
        unknown = set(ray.camera_resources) - {c.name for c in cameras}
        if unknown:
            raise ConfigError(f"camera_resources names unknown cameras: {sorted(unknown)}", code="bad_ray_options")
        self.options = ray
        self.on_message = on_message
        self.index_refresh = index_refresh
        self.mode = "ray"
        self.index_updates = 0
        self._alert_ids: set[str] = set()
        self._slots = {c.name: _Slot(c, replay=replayable(c.url)) for c in cameras}
        self._run_key = uuid.uuid4().hex[:16]
        self._stop = threading.Event()
        self._stop_reason = ""
        self._index_ref: Any = None
        self._remote: Any = None

    # -- control -------------------------------------------------------------------------------

    def stop(self, reason: str = "stopped") -> None:
        if not self._stop_reason:
            self._stop_reason = reason
        self._stop.set()

    @property
    def placements(self) -> dict[str, str | None]:
        """Camera -> Ray node id of its current actor (None while being scheduled)."""
        return {n: (s.node.get("node_id") if s.started else None) for n, s in self._slots.items()}

    @property
    def restarts(self) -> dict[str, int]:
        return {n: s.restarts for n, s in self._slots.items()}

    def _alert_key(self, slot: _Slot) -> str:
        if slot.replay:  # a replay must reproduce the same ids
            return replay_key(slot.spec.url)
        return f"live:{self._run_key}:{slot.incarnation}"

    def _set_state(self, slot: _Slot, state: SourceState, detail: str) -> None:
        self.dispatch.set_state(slot.spec.name, state, detail)

    def _spawn(self, slot: _Slot) -> None:
        o = self.options
        res = {**o.resources, **o.camera_resources.get(slot.spec.name, {})}
        opts: dict[str, Any] = {
            "num_cpus": o.cpus_per_camera,
            "num_gpus": o.gpus_per_camera,
            "max_restarts": 0,
            "max_concurrency": 4,
        }
        if res:
            opts["resources"] = res
        if o.spread:
            opts["scheduling_strategy"] = "SPREAD"
        slot.excluding = False
        if slot.avoid:
            alive = {str(n["NodeID"]) for n in ray.nodes() if n.get("Alive")}  # type: ignore[no-untyped-call]
            avoid = slot.avoid & alive
            if avoid and alive - avoid:
                opts["label_selector"] = {NODE_ID_LABEL: f"!in({', '.join(sorted(avoid))})"}
                slot.excluding = True
        resume = Resume(slot.checkpoint, slot.counted_through) if slot.incarnation and slot.replay else None
        work = self.inputs.worker(slot.spec, self._alert_key(slot), self.previews)
        slot.handle = self._remote.options(**opts).remote(work, self._index_ref, resume)
        slot.start_ref = slot.handle.start.remote()
        slot.spawned = time.monotonic()
        slot.poll_ref = None
        slot.started = False
        slot.ack = 0
        slot.stop_sent = False
        if slot.incarnation == 0:
            self._set_state(slot, SourceState.CONNECTING, "scheduling on the cluster")

    def _lost(self, slot: _Slot, reason: str, avoid_node: bool = True) -> None:
        """The actor died or stopped answering: replace it (or give up)."""
        name = slot.spec.name
        node_id = slot.node.get("node_id") if slot.started else None
        if avoid_node and node_id:
            slot.avoid.add(str(node_id))
        if slot.handle is not None:
            try:
                ray.kill(slot.handle, no_restart=True)
            except Exception:  # noqa: S110 - already gone
                pass
        slot.handle = slot.start_ref = slot.poll_ref = None
        slot.started = False
        if slot.done:
            return
        if self._stop.is_set():
            slot.done = True
            self._set_state(slot, SourceState.STOPPED, f"worker lost while stopping: {reason}")
            return
        if slot.finished:
            slot.done = True
            self._set_state(slot, SourceState.ENDED, "end of file")
            return
        slot.restarts += 1
        slot.failures += 1
        limit = self.options.max_restarts
        if limit is not None and slot.restarts > limit:
            slot.done = True
            self._set_state(slot, SourceState.FAILED, f"gave up after {slot.restarts - 1} replacements: {reason}")
            return
        delay = (
            0.0
            if slot.failures <= 1
            else min(self.options.backoff_max_s, self.options.backoff_base_s * 2 ** (slot.failures - 2))
        )
        slot.spawn_at = time.monotonic() + delay
        slot.incarnation += 1
        log.warning("camera %s: worker lost (%s); rescheduling in %.1fs", name, reason, delay)
        self._set_state(slot, SourceState.CONNECTING, f"worker lost ({reason}); rescheduling")

    # -- events -------------------------------------------------------------------------------------

    def _handle(self, slot: _Slot, msg: Any) -> None:
        """Ray's own bookkeeping (alerts de-duplicated by id, checkpoints, back-off), then the dispatcher."""
        name = slot.spec.name
        if self.on_message is not None:
            self.on_message(name, msg)
        if isinstance(msg, AlertMsg):
            if msg.event.record.alert_id in self._alert_ids:
                return
            self._alert_ids.add(msg.event.record.alert_id)
        elif isinstance(msg, FrameCounts):
            self.dispatch.count(name, msg.deltas)
            if msg.through_t is not None:
                slot.counted_through = max(slot.counted_through or msg.through_t, msg.through_t)
            if msg.checkpoint is not None:
                slot.checkpoint = dict(msg.checkpoint)
            if msg.final:
                slot.finished = True
            return
        elif isinstance(msg, StateEvent) and msg.state == SourceState.LIVE:
            slot.failures = 0
            slot.avoid.clear()
        elif isinstance(msg, WorkerDone):
            slot.done = True
        elif not isinstance(msg, CountEvent | StateEvent | PreviewMsg):  # (track summaries stay on the workers)
            log.warning("camera %s: unexpected message %s ignored", name, type(msg).__name__)
            return
        self.dispatch.handle(msg)

    def _refresh_index(self) -> None:
        if self.index_refresh is None:
            return
        try:
            new = self.index_refresh()
        except OpenLFRError as exc:  # e.g. the list was deleted as the deployment ended: keep the old one
            log.warning("watchlist refresh failed (%s: %s); cameras keep the current index", exc.code, exc.message)
            return
        if new is None:
            return
        self.index = new
        self._index_ref = ray.put(new)
        self.index_updates += 1
        for slot in self._slots.values():
            if slot.handle is not None and not slot.done:
                slot.handle.set_index.remote(self._index_ref)
        log.info(
            "watchlist index refreshed (%d entries) on %d cameras",
            new.size,
            sum(1 for s in self._slots.values() if s.handle is not None),
        )

    # -- the loop -----------------------------------------------------------------------------------

    def run(self, max_seconds: float | None = None) -> RunSummary:
        t0 = time.monotonic()
        o = self.options
        connect(o, self._stop)  # a SIGTERM while ray.init hangs ends the wait
        stop_deadline: float | None = None
        try:
            self._remote = ray.remote(CameraActor)
            self._index_ref = ray.put(self.index)
            for slot in self._slots.values():
                self._spawn(slot)
            last_flush = last_refresh = time.monotonic()
            while not all(s.done for s in self._slots.values()):
                now = time.monotonic()
                if max_seconds is not None and now - t0 >= max_seconds and not self._stop.is_set():
                    self.stop("max_seconds")
                if self._stop.is_set():
                    if stop_deadline is None:
                        stop_deadline = now + o.stop_timeout_s
                    elif now >= stop_deadline:
                        break
                self._step(now)
                now = time.monotonic()
                if now - last_flush >= self.flush_s:
                    self.dispatch.flush()
                    last_flush = now
                if now - last_refresh >= o.refresh_s and not self._stop.is_set():
                    self._refresh_index()
                    last_refresh = now
        except KeyboardInterrupt:
            self.stop("interrupted")
        finally:
            self._kill_actors()
            self.dispatch.flush()
            self._index_ref = None
            release()
        return RunSummary(
            cameras=self._camera_summaries(),
            alerts=self.alerts,
            duration_s=time.monotonic() - t0,
            stopped_by=self._stop_reason or "end_of_sources",
        )

    def _kill_actors(self) -> None:
        """Kill every camera's actor; a camera not done yet is marked stopped."""
        for slot in self._slots.values():
            if slot.handle is not None:
                try:
                    ray.kill(slot.handle, no_restart=True)
                except Exception:  # noqa: S110 - already gone
                    pass
                slot.handle = None
            if not slot.done:
                slot.done = True
                if self.states[slot.spec.name] not in (SourceState.ENDED, SourceState.FAILED):
                    self.states[slot.spec.name] = SourceState.STOPPED

    def _camera_summaries(self) -> dict[str, dict[str, Any]]:
        """Per camera: its (masked) source, final state, counters, restarts and the nodes it ran on."""
        return {
            c.name: {
                "source": mask_url(c.url),
                "state": self.states[c.name].value,
                "detail": self.details[c.name],
                "counters": dict(self.totals[c.name]),
                "restarts": self._slots[c.name].restarts,
                "nodes": list(self._slots[c.name].nodes),
            }
            for c in self.cameras
        }

    def _step(self, now: float) -> None:
        waiting: dict[Any, tuple[_Slot, str]] = {}
        for slot in self._slots.values():
            wait = self._due(slot, now)
            if wait is not None:
                waiting[wait[0]] = (slot, wait[1])
        if not waiting:
            time.sleep(self.options.poll_s)
            return
        ready, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=self.options.poll_s)
        for ref in ready:
            slot, kind = waiting[ref]
            if slot.handle is None:
                continue
            try:
                value = ray.get(ref)
            except ray.exceptions.RayError as exc:
                self._lost(slot, type(exc).__name__)
                continue
            if kind == "start":
                self._started(slot, value)
            else:
                self._polled(slot, value)

    def _due(self, slot: _Slot, now: float) -> tuple[Any, str] | None:
        """What to wait on for this camera now (its start, or a poll of its messages), after (re)spawning or
        stopping it as due; None when nothing."""
        o = self.options
        if slot.done:
            return None
        if slot.handle is None:
            if now >= slot.spawn_at and not self._stop.is_set():
                self._spawn(slot)
            elif self._stop.is_set():
                slot.done = True
                self._set_state(slot, SourceState.STOPPED, "stopped while rescheduling")
                return None
            else:
                return None
        if self._stop.is_set() and not slot.stop_sent and slot.handle is not None:
            slot.handle.stop.remote()
            slot.stop_sent = True
        if not slot.started:
            if slot.excluding and now - slot.spawned > o.actor_timeout_s:
                # nowhere else to go: let it return to the node it left
                slot.avoid.clear()
                self._lost(slot, "no other node could take it", avoid_node=False)
                return None
            return slot.start_ref, "start"
        if slot.poll_ref is None and now - slot.last_poll >= o.poll_s:
            slot.poll_ref = slot.handle.poll.remote(slot.ack)
            slot.poll_sent = now
        if slot.poll_ref is not None:
            if now - slot.poll_sent > o.actor_timeout_s:
                self._lost(slot, f"no answer for {o.actor_timeout_s:g}s")
                return None
            return slot.poll_ref, "poll"
        return None

    def _started(self, slot: _Slot, value: Any) -> None:
        slot.started = True
        slot.start_ref = None
        slot.node = dict(value)
        node_id = str(value.get("node_id"))
        slot.nodes.append(node_id)
        slot.last_poll = 0.0
        if self.states[slot.spec.name] == SourceState.CONNECTING:
            self.details[slot.spec.name] = f"on node {node_id[:12]}"

    def _polled(self, slot: _Slot, value: Any) -> None:
        slot.poll_ref = None
        slot.last_poll = time.monotonic()
        for seq, msg in value:
            if seq <= slot.ack:
                continue
            self._handle(slot, msg)
            slot.ack = seq
        if slot.done and slot.handle is not None:  # WorkerDone: nothing more will come
            try:
                ray.kill(slot.handle, no_restart=True)
            except Exception:  # noqa: S110 - already gone
                pass
            slot.handle = None
