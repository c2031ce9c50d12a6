"""Camera workers: one per source, each with a reader (decode) thread, a bounded drop-oldest
frame queue and an analysis loop; a runner that starts them, collects their messages
(``runtime/messages.py``) and publishes them as events on the run's bus (``runtime/dispatch.py``).

**Threads or processes.** dlib's HOG detector and ResNet descriptor hold Python's GIL while they
run (measured here: two threads running the HOG detector take 0.96x the time of running them one
after the other, the descriptor 1.01x), so two cameras in threads share one core. Each camera
therefore runs in its own process (``mode="process"``, the default with two or more cameras):
the engine is built in the child from its (picklable) config, the watchlist index is pickled
across, and the child sends back small events (alerts, counter deltas, states, JPEG previews).
One camera runs in threads of the calling process (``mode="thread"``): decoding (FFmpeg,
releases the GIL) overlaps the analysis.

**Reconnect.** A live source (RTSP, HTTP/MJPEG, ...; a network source that has never opened counts
as live, so a camera that is down at start is retried) that fails to open, stops delivering (read
time-out) or ends is reopened after an exponential back-off with jitter: delay = min(max_s, base_s x 2^k) x U(0.5, 1.5),
k = failures since the last good frame. States: ``connecting`` -> ``live`` -> (``stalled``: no
frame for ``stall_s``) -> ``connecting`` ... -> ``failed`` after ``max_retries`` (None: never)
or at once for a file that cannot be opened; ``ended`` at the end of a file; ``stopped``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openlfr.engine.imageio import encode_jpeg
from openlfr.engine.live import FrameResult, LiveAnalyser, LiveConfig
from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.engine.sources import Frame, FrameSource, mask_url, open_source
from openlfr.errors import OpenLFRError, SourceError
from openlfr.names import name_problem
from openlfr.runtime.dispatch import Dispatcher
from openlfr.runtime.events import EventBus, PreviewFrame, SourceState
from openlfr.runtime.messages import AlertMsg, CountEvent, Emit, Event, PreviewMsg, StateEvent, TracksEnded, WorkerDone
from openlfr.runtime.queues import DropOldestQueue
from openlfr.runtime.replay import alert_key_for

__all__ = [
    "AlertMsg",
    "CameraSpec",
    "CameraWorker",
    "CountEvent",
    "Emit",
    "Event",
    "LiveRunner",
    "PreviewMsg",
    "RunInputs",
    "RunSummary",
    "RunnerBase",
    "SourceState",
    "StateEvent",
    "TracksEnded",
    "WorkerDone",
    "WorkerInputs",
]

log = logging.getLogger(__name__)

A = TypeVar("A", bound=LiveAnalyser)


class CameraSpec(BaseModel):
    """One camera (or file) to analyse."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200, description="Camera name used in alerts and counters.")
    url: str = Field(..., min_length=1, description="Path, rtsp://, http(s):// URL, device index or webcam:N.")
    loop: bool = Field(False, description="Restart a file at its end.")
    realtime: bool = Field(False, description="Pace a file at its native frame rate (as a camera would).")
    live: LiveConfig = Field(default_factory=LiveConfig)
    queue_size: int = Field(2, ge=1, le=256, description="Frames buffered between decoding and analysis.")
    stall_s: float = Field(5.0, gt=0, le=600, description="No frame for this long: state 'stalled'.")
    open_timeout_s: float = Field(10.0, gt=0, le=600)
    read_timeout_s: float = Field(5.0, gt=0, le=600)
    backoff_base_s: float = Field(0.5, gt=0, le=60)
    backoff_max_s: float = Field(30.0, gt=0, le=3600)
    max_retries: int | None = Field(
        None, ge=0, description="Consecutive failures before 'failed' (None: retry forever)."
    )
    preview_fps: float = Field(5.0, gt=0, le=60, description="Most preview frames per second.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        why = name_problem(v)
        if why is not None:
            raise ValueError(f"camera name {v!r} {why}")
        return v

    def __repr__(self) -> str:
        return f"CameraSpec(name={self.name!r}, url={mask_url(self.url)!r})"

    __str__ = __repr__


class Backoff:
    """Exponential back-off with jitter: min(max_s, base_s * 2**k) * U(0.5, 1.5)."""

    def __init__(self, base_s: float = 0.5, max_s: float = 30.0, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def next(self) -> float:
        d = min(self.max_s, self.base_s * (2**self.failures))
        self.failures += 1
        return float(d * self._rng.uniform(0.5, 1.5))

    def reset(self) -> None:
        self.failures = 0


class CameraWorker:
    """Reads one source and analyses its frames until it ends, fails or ``stop`` is set."""

    def __init__(
        self,
        spec: CameraSpec,
        analyser: LiveAnalyser,
        emit: Emit,
        stop: Any,
        preview: bool = False,
        source: FrameSource | None = None,
        count_every_s: float = 1.0,
    ) -> None:
        self.spec = spec
        self.analyser = analyser
        self.emit = emit
        self.stop = stop
        self.preview = preview
        self.source = source or open_source(
            spec.url,
            loop=spec.loop,
            realtime=spec.realtime,
            open_timeout=spec.open_timeout_s,
            read_timeout=spec.read_timeout_s,
        )
        self.frames: DropOldestQueue[Frame] = DropOldestQueue(spec.queue_size)
        self.state = SourceState.CONNECTING
        self._state_lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._count_every = count_every_s
        self._last_frame_mono = time.monotonic()
        self._final: tuple[SourceState, str] | None = None
        self.backoff = Backoff(spec.backoff_base_s, spec.backoff_max_s)
        self._live_s = 0.0
        self._live_mark = time.monotonic()

    def _set_state(self, state: SourceState, detail: str = "") -> None:
        detail = mask_url(detail)
        with self._state_lock:
            if state == self.state and not detail:
                return
            self._tally_live()
            self.state = state
        log.info("camera %s: %s %s", self.spec.name, state.value, detail)
        self.emit(StateEvent(self.spec.name, state, detail))

    def _count(self, name: str, n: int = 1) -> None:
        with self._count_lock:
            self._counts[name] += n

    def _tally_live(self) -> None:
        """Accumulate seconds spent in state 'live' (reported as the ``live_seconds`` counter)."""
        now = time.monotonic()
        if self.state == SourceState.LIVE:
            self._live_s += now - self._live_mark
        self._live_mark = now

    def _flush_counts(self, final: bool = False) -> None:
        with self._state_lock:
            self._tally_live()
            whole = round(self._live_s) if final else int(self._live_s)
            self._live_s -= whole
        if whole:
            self._count("live_seconds", whole)
        drops = self.frames.take_drops()
        with self._count_lock:
            if drops:
                self._counts["queue_drops"] += drops
            deltas = {k: int(v) for k, v in self._counts.items() if v}
            self._counts.clear()
        if deltas:
            self.emit(CountEvent(self.spec.name, deltas))

    # -- reader thread ---------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True if stopped."""
        return bool(self.stop.wait(seconds))

    def _reader(self) -> None:
        src = self.source
        opened_once = False
        try:
            while not self.stop.is_set():
                try:
                    if not opened_once or src.live:
                        self._set_state(SourceState.CONNECTING)
                    src.open()
                    opened_once = True
                    while not self.stop.is_set():
                        frame = src.read()
                        if frame is None:
                            self._final = (SourceState.ENDED, "end of file")
                            return
                        if self.state != SourceState.LIVE:
                            self._set_state(SourceState.LIVE)
                        self.backoff.reset()
                        self._last_frame_mono = time.monotonic()
                        if not self.frames.put(frame, block=not src.live):
                            return
                except SourceError as exc:
                    if self.stop.is_set():
                        return
                    self._count("source_failures")  # every failed open/read, counted by kind too
                    if exc.code == "source_timeout":
                        self._count("source_timeouts")
                    # a network camera (RTSP, HTTP/MJPEG, ...) that has not opened yet may simply be
                    # down: retry it like a live one; only a local file fails at once
                    if not src.live and (opened_once or not getattr(src, "network", False)):
                        self._final = (SourceState.FAILED, exc.message)
                        return
                    if self.spec.max_retries is not None and self.backoff.failures >= self.spec.max_retries:
                        self._final = (
                            SourceState.FAILED,
                            f"gave up after {self.backoff.failures} retries: {exc.message}",
                        )
                        return
                    delay = self.backoff.next()
                    self._set_state(SourceState.CONNECTING, f"{exc.message}; retry in {delay:.1f}s")
                    if opened_once:
                        self._count("source_reconnects")
                    src.close()
                    if self._sleep(delay):
                        return
        finally:
            src.close()
            self.frames.close()

    # -- analysis loop ---------------------------------------------------------------------------

    def _emit_result(self, res: FrameResult) -> None:
        """A result's counters (summed until the next flush), its alerts and the tracks it ended."""
        with self._count_lock:
            self._counts.update(res.counters)
        for ev in res.alerts:
            self.emit(AlertMsg(self.spec.name, ev))
        if res.ended:
            self.emit(TracksEnded(self.spec.name, res.ended))

    def run(self) -> None:
        reader = threading.Thread(target=self._reader, name=f"reader-{self.spec.name}", daemon=True)
        reader.start()
        last_flush = time.monotonic()
        last_preview = 0.0
        preview_gap = 1.0 / self.spec.preview_fps
        try:
            while not self.stop.is_set():
                frame = self.frames.get(timeout=0.2)
                now = time.monotonic()
                if frame is None:
                    if self.frames.closed and len(self.frames) == 0:
                        break
                    idle = self.analyser.expire_idle()  # P2 holds while no frame arrives
                    if idle.ended:  # (a track decided as it ended alerts here: LiveConfig.decision "track")
                        self._emit_result(idle)
                    if self.state == SourceState.LIVE and now - self._last_frame_mono > self.spec.stall_s:
                        self._set_state(SourceState.STALLED, f"no frame for {self.spec.stall_s:g}s")
                else:
                    want_preview = self.preview and now - last_preview >= preview_gap
                    res = self.analyser.process(frame, keep_image=want_preview)
                    self._emit_result(res)
                    if want_preview and res.analysed:
                        img = res.preview()
                        if img is not None:
                            self.emit(PreviewMsg(self.spec.name, encode_jpeg(img, quality=75), frame.t))
                            last_preview = now
                    res.release()
                    del frame
                if now - last_flush >= self._count_every:
                    self._flush_counts()
                    last_flush = now
        finally:
            self.frames.close()
            reader.join(timeout=5.0)
            self._emit_result(self.analyser.finish())
            final = self._final or (SourceState.STOPPED, "stopped")
            self._set_state(final[0], final[1])
            self._flush_counts(final=True)
            self.emit(WorkerDone(self.spec.name, final[0], final[1]))


# ---- process entry point ----------------------------------------------------------------------


def _own_session() -> None:
    """Put this camera process in a session of its own.

    With Linux's autogroup scheduling each session is scheduled as one group, so the parent's busy threads
    (an API server) do not dilute this camera's CPU share; the parent still stops it (the stop event, or its
    death noticed by :func:`_mirror_stop`)."""
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:
            pass


def _mirror_stop(stop: Any, parent: int) -> threading.Event:
    """A local event set when the shared ``stop`` event is set or the ``parent`` process dies.

    Never wait on the shared multiprocessing Event in the child: a process that exits while waiting on it
    leaves its condition's sleeper count behind and the parent's later ``set()`` blocks forever. The local
    event mirrors it by polling ``is_set()``; the same thread notices a dead parent."""
    local = threading.Event()

    def mirror() -> None:
        while not local.is_set():
            if stop.is_set() or os.getppid() != parent:
                local.set()
                return
            time.sleep(0.1)

    threading.Thread(target=mirror, daemon=True).start()
    return local


def _child_main(work: WorkerInputs, index: WatchlistIndex, out: Any, stop: Any, own_session: bool = False) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent coordinates stopping
    if own_session:
        _own_session()
    parent = os.getppid()
    spec = work.spec

    def emit(ev: Event) -> None:
        try:
            out.put(ev, timeout=0.5 if isinstance(ev, PreviewMsg) else 30.0)
        except queue_mod.Full:
            pass  # a preview frame the parent could not take in time is dropped

    local = _mirror_stop(stop, parent)
    try:
        worker = CameraWorker(spec, work.analyser(LiveAnalyser, index), emit, local, preview=work.preview)
    except OpenLFRError as exc:
        emit(WorkerDone(spec.name, SourceState.FAILED, exc.message))
        return

    worker.run()


# ---- the runner --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerInputs:
    """What one camera's worker (a thread, a child process or a Ray actor) starts from, beside the watchlist
    index (passed on its own: Ray resolves an object reference only as a top-level argument)."""

    spec: CameraSpec
    engine_config: EngineConfig
    threshold: float
    watchlist_id: int
    deployment_id: int | None
    alert_key: str | None
    preview: bool = False

    def analyser(self, cls: type[A], index: WatchlistIndex, engine: FaceEngine | None = None, **extra: Any) -> A:
        """This camera's analyser (``cls``, with ``extra`` arguments); the engine is built from the
        configuration unless one is given (a thread shares its runner's)."""
        engine = engine or FaceEngine.from_config(self.engine_config)
        return cls(
            engine,
            index,
            self.threshold,
            self.spec.name,
            self.spec.live,
            watchlist_id=self.watchlist_id,
            deployment_id=self.deployment_id,
            alert_key=self.alert_key,
            **extra,
        )


@dataclass(frozen=True)
class RunInputs:
    """What a live run searches: its cameras, the engine configuration, the watchlist index and threshold,
    and the watchlist and deployment its alerts belong to. Every runner is built from one."""

    cameras: list[CameraSpec]
    engine_config: EngineConfig
    index: WatchlistIndex
    threshold: float
    watchlist_id: int = 0
    deployment_id: int | None = None

    def worker(self, spec: CameraSpec, alert_key: str | None, preview: bool) -> WorkerInputs:
        return WorkerInputs(
            spec, self.engine_config, self.threshold, self.watchlist_id, self.deployment_id, alert_key, preview
        )


@dataclass
class RunSummary:
    cameras: dict[str, dict[str, Any]]
    alerts: int
    duration_s: float
    stopped_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "cameras": self.cameras,
            "alerts": self.alerts,
            "duration_s": round(self.duration_s, 3),
            "stopped_by": self.stopped_by,
        }


class RunnerBase:
    """What every runner (this machine's :class:`LiveRunner`, the Ray runtime's ``RayRunner``) holds: the
    cameras, engine, index and bus of the run, and its dispatcher (the live view: states, totals, details)."""

    def _setup(self, run: RunInputs, bus: EventBus, flush_s: float) -> None:
        cameras = run.cameras
        names = [c.name for c in cameras]
        if not cameras:
            raise SourceError("no camera given", code="no_source")
        if len(set(names)) != len(names):
            raise SourceError(f"camera names must be unique: {names}", code="duplicate_camera")
        self.inputs = run
        self.cameras = cameras
        self.index = run.index
        """The index searched now (the Ray runtime swaps in a new one when the watchlist changes)."""
        self.threshold = run.threshold
        self.bus = bus
        self.flush_s = flush_s
        self.dispatch = Dispatcher(names, bus)
        self.states = self.dispatch.states
        """Camera name -> current state (the dispatcher's, shared)."""
        self.details = self.dispatch.details
        self.totals = self.dispatch.totals

    @property
    def alerts(self) -> int:
        return self.dispatch.alerts

    @property
    def previews(self) -> bool:
        """Whether the workers make preview frames: only when someone subscribed to them."""
        return self.bus.wants(PreviewFrame)


class LiveRunner(RunnerBase):
    """Runs camera workers and dispatches their events (in the thread that calls :meth:`run`) on ``bus``.

    Alerts are published as they arrive; counters are summed and published every ``flush_s`` and when
    the run ends (so a clean stop loses none).
    """

    def __init__(
        self,
        run: RunInputs,
        bus: EventBus,
        *,
        mode: str = "auto",
        engine: FaceEngine | None = None,
        flush_s: float = 1.0,
        own_session: bool = False,
    ) -> None:
        self._setup(run, bus, flush_s)
        if mode == "auto":
            mode = "process" if len(run.cameras) > 1 else "thread"
        if mode not in ("thread", "process"):
            raise SourceError(f"mode must be thread, process or auto, not {mode!r}", code="bad_mode")
        self.mode = mode
        self._engine = engine
        self.own_session = own_session
        """Process mode: each camera process in a session of its own (``openlfr serve``: see ``_child_main``)."""
        self._stop_reason = ""
        if mode == "process":
            ctx = mp.get_context("spawn")
            self._stop: Any = ctx.Event()
            self._events: Any = ctx.Queue(maxsize=1000)
            self._ctx: Any = ctx
        else:
            self._stop = threading.Event()
            self._events = queue_mod.Queue(maxsize=1000)
        self._handles: list[Any] = []
        self._run_key = uuid.uuid4().hex[:16]
        """Alert key of this run's live streams; a replayable file's key depends on its URL only
        (runtime/replay.py), so a restarted run stores none of its alerts twice."""

    # -- control -------------------------------------------------------------------------------

    def stop(self, reason: str = "stopped") -> None:
        """Ask every worker to stop (safe from a signal handler)."""
        if not self._stop_reason:
            self._stop_reason = reason
        self._stop.set()

    def _emit_local(self, ev: Event) -> None:
        timeout = 0.5 if isinstance(ev, PreviewMsg) else None
        try:
            self._events.put(ev, timeout=timeout)
        except queue_mod.Full:
            pass

    def _start(self) -> None:
        preview = self.previews
        if self.mode == "thread":
            engine = self._engine or FaceEngine.from_config(self.inputs.engine_config)
            for spec in self.cameras:
                work = self.inputs.worker(spec, alert_key_for(spec.url, self._run_key), preview)
                try:
                    worker = CameraWorker(
                        spec,
                        work.analyser(LiveAnalyser, self.index, engine),
                        self._emit_local,
                        self._stop,
                        preview=preview,
                    )
                except OpenLFRError as exc:
                    # as a child process does: this camera fails, the others run on under the dispatch
                    # loop (raising here left the cameras already started running unsupervised)
                    self._emit_local(WorkerDone(spec.name, SourceState.FAILED, mask_url(exc.message)))
                    continue
                th = threading.Thread(target=self._guard(worker), name=f"camera-{spec.name}", daemon=True)
                th.start()
                self._handles.append(th)
        else:
            for spec in self.cameras:
                work = self.inputs.worker(spec, alert_key_for(spec.url, self._run_key), preview)
                p = self._ctx.Process(
                    target=_child_main,
                    name=f"openlfr-camera-{spec.name}",
                    daemon=True,
                    args=(work, self.index, self._events, self._stop, self.own_session),
                )
                p.start()
                self._handles.append(p)

    def _guard(self, worker: CameraWorker) -> Callable[[], None]:
        def run() -> None:
            try:
                worker.run()
            except Exception as exc:  # a bug in one camera must not take the others down
                log.exception("camera %s crashed", worker.spec.name)
                self._emit_local(WorkerDone(worker.spec.name, SourceState.FAILED, mask_url(f"crashed: {exc!r}")))

        return run

    # -- dispatch --------------------------------------------------------------------------------

    def run(self, max_seconds: float | None = None) -> RunSummary:
        """Start the workers and dispatch events until every worker is done (files ended, sources
        failed) or :meth:`stop` is called / ``max_seconds`` pass. Flushes counters at the end."""
        t0 = time.monotonic()
        done = self.dispatch.done
        last_flush = t0
        try:
            self._start()  # inside the try: whatever fails here, the finally below stops what started
            while len(done) < len(self.cameras):
                now = time.monotonic()
                if max_seconds is not None and now - t0 >= max_seconds and not self._stop.is_set():
                    self.stop("max_seconds")
                try:
                    ev = self._events.get(timeout=0.2)
                except queue_mod.Empty:
                    ev = None
                if ev is not None:
                    self.dispatch.handle(ev)
                if now - last_flush >= self.flush_s:
                    self.dispatch.flush()
                    last_flush = now
                if self.mode == "process":
                    for spec, p in zip(self.cameras, self._handles, strict=True):
                        if not p.is_alive() and spec.name not in done:
                            # give its last events a moment, then count it as gone
                            self._drain(1.0)
                            if spec.name not in done:
                                self.dispatch.finish(
                                    spec.name,
                                    SourceState.FAILED,
                                    f"worker exited with code {p.exitcode}",
                                    announce=False,
                                )
        except KeyboardInterrupt:
            self.stop("interrupted")
            self._drain(30.0, until_done=True)
        finally:
            self._stop.set()
            self._drain(10.0, until_done=True)
            for h in self._handles:
                h.join(timeout=10.0)
                if self.mode == "process" and h.is_alive():
                    h.terminate()
            self.dispatch.flush()
        stopped_by = self._stop_reason or "end_of_sources"
        cams = {
            c.name: {
                "source": mask_url(c.url),
                "state": self.states[c.name].value,
                "detail": self.details[c.name],
                "counters": dict(self.totals[c.name]),
            }
            for c in self.cameras
        }
        return RunSummary(cameras=cams, alerts=self.alerts, duration_s=time.monotonic() - t0, stopped_by=stopped_by)

    def _drain(self, timeout: float, until_done: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until_done and len(self.dispatch.done) >= len(self.cameras):
                return
            try:
                ev = self._events.get(timeout=0.1)
            except queue_mod.Empty:
                if not until_done:
                    return
                continue
            self.dispatch.handle(ev)
