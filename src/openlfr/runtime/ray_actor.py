"""The camera pipeline as a Ray actor, and what makes it resumable after a crash.

A :class:`CameraActor` runs the single-machine :class:`openlfr.runtime.workers.CameraWorker`
(reader thread, drop-oldest queue, reconnect with back-off, states) on one camera, inside a Ray
worker process on whichever node Ray placed it. Its events wait in an *outbox* until the central
process polls them (``poll(ack)`` returns everything after ``ack`` and forgets what was acknowledged),
so a poll reply lost on the way is sent again.

**Only alerts and counters leave the actor.** The outbox holds alert events (an ``AlertRecord``:
a match at or above threshold, P1), counter deltas, camera states, quiet-point checkpoints (times
and a track number) and, when the console asked for them, preview JPEGs that are a mosaic except
an alerted person's face and body region (P3). Track summaries stay here; crops, embeddings and frames of
faces that did not alert never enter the outbox.

**Resuming a file after the actor (or its node) died.** Processing a file is deterministic, so the
replacement actor replays it and reproduces the same tracks, decisions and alert ids (the engine
derives alert ids from the deployment, camera, run key, track and entry). Two watermarks from the
central process keep the replay cheap and exact:

- ``checkpoint``: the latest *quiet point* the central process received (a frame after which no
  track was alive): frames up to it are decoded and skipped, the analyser resumes from it with the
  same next track id and sampling phase;
- ``counted_through``: the source time up to which frame counters were received: counters (and
  alerts, already received) of frames up to it are not sent again, so counters continue without
  double counting.

Live streams cannot be replayed: a replacement starts on the frames that arrive from then on, with
a new run key (``alert_key`` carries the incarnation) so that its track numbers cannot collide
with alerts of the actor it replaces.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from openlfr.engine.live import FrameResult, LiveAnalyser
from openlfr.engine.matcher import WatchlistIndex
from openlfr.engine.pipeline import FaceEngine
from openlfr.engine.sources import Frame, FrameSource, mask_url, open_source
from openlfr.errors import OpenLFRError
from openlfr.runtime.workers import CameraWorker, Event, PreviewMsg, SourceState, TracksEnded, WorkerDone, WorkerInputs

log = logging.getLogger(__name__)

OUTBOX_MAX = 5000
"""Unacknowledged events kept per actor; beyond it preview frames are dropped first."""


@dataclass(frozen=True)
class FrameCounts:
    """Per-frame counters of source frames up to ``through_t`` (source seconds), with the latest
    quiet point at or before it. ``final``: the source ended and every track was closed."""

    camera: str
    deltas: dict[str, int]
    through_t: float | None
    checkpoint: dict[str, Any] | None
    final: bool = False


@dataclass(frozen=True)
class Resume:
    """Where a replacement actor picks up (see the module docstring)."""

    checkpoint: dict[str, Any] | None = None
    counted_through: float | None = None


class ResumableSource:
    """Wraps a source: skips frames up to ``after_t`` (a replay up to a checkpoint, not paced) and
    paces the rest at the file's rate when ``realtime`` (as ``AvSource(realtime=True)`` would)."""

    def __init__(self, inner: FrameSource, after_t: float | None = None, realtime: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.live = inner.live
        self.network = bool(getattr(inner, "network", False))
        self.after_t = after_t
        self.realtime = realtime
        self.skipped = 0
        self._origin: tuple[float, float] | None = None

    def open(self) -> None:
        self.inner.open()
        self.live = self.inner.live
        self._origin = None

    def read(self) -> Frame | None:
        while True:
            frame = self.inner.read()
            self.live = self.inner.live
            if frame is None:
                return None
            if self.after_t is not None and not self.live and frame.t <= self.after_t:
                self.skipped += 1
                continue
            break
        if self.realtime and not self.live:
            now = time.monotonic()
            if self._origin is None:
                self._origin = (now, frame.t)
            else:
                due = self._origin[0] + (frame.t - self._origin[1])
                if due > now:
                    time.sleep(due - now)
        return frame

    def close(self) -> None:
        self.inner.close()


class ResumableAnalyser(LiveAnalyser):
    """A :class:`LiveAnalyser` that reports per-frame counters itself, with source-time watermarks
    and quiet-point checkpoints (:class:`FrameCounts`), and skips what a previous incarnation
    already reported (frames up to ``resume.counted_through``)."""

    def __init__(
        self,
        engine: FaceEngine,
        index: WatchlistIndex,
        threshold: float,
        camera: str,
        config: Any,
        *,
        emit: Any,
        resume: Resume | None = None,
        flush_s: float = 0.5,
        flush_frames: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(engine, index, threshold, camera, config, **kwargs)
        self._emit = emit
        self._flush_s = flush_s
        self._flush_frames = flush_frames
        self._since_flush = 0
        self._pending: Counter[str] = Counter()
        self._through: float | None = None
        self._cp: dict[str, Any] | None = None
        self._last_flush = time.monotonic()
        self._new_index: WatchlistIndex | None = None
        self._index_lock = threading.Lock()
        self.counted_through = resume.counted_through if resume else None
        if resume is not None and resume.checkpoint is not None:
            self.restore(resume.checkpoint)
            self._cp = dict(resume.checkpoint)

    def request_index(self, index: WatchlistIndex) -> None:
        """Swap the watchlist index before the next frame (called from another thread)."""
        with self._index_lock:
            self._new_index = index

    def _flush(self, final: bool = False) -> None:
        deltas = {k: int(v) for k, v in self._pending.items() if v}
        self._pending.clear()
        self._last_flush = time.monotonic()
        self._since_flush = 0
        if deltas or final or self._through is not None:
            self._emit(FrameCounts(self.camera, deltas, self._through, self._cp, final))

    def process(self, frame: Frame, keep_image: bool = False) -> FrameResult:
        # Counters of earlier frames go out here, after the worker emitted those frames' alerts:
        # a watermark the central process holds therefore never runs ahead of an alert. Every
        # ``flush_frames`` frames as well as every ``flush_s`` seconds, so that a short clip analysed
        # quickly still leaves several watermarks (resume points) behind, however fast the machine.
        if self._since_flush >= self._flush_frames or time.monotonic() - self._last_flush >= self._flush_s:
            self._flush()
        self._since_flush += 1
        with self._index_lock:
            new, self._new_index = self._new_index, None
        if new is not None:
            self.set_index(new)
        res = super().process(frame, keep_image=keep_image)
        counters, res.counters = res.counters, Counter()
        if self.counted_through is not None and frame.t <= self.counted_through:
            res.alerts = []  # a replayed frame: its counters and alerts were received already
        else:
            self._pending.update(counters)
        self._through = frame.t
        cp = self.checkpoint()
        if cp is not None:
            self._cp = cp
        return res

    def finish(self) -> FrameResult:
        res = super().finish()
        self._pending.update(res.counters)
        res.counters = Counter()
        self._flush(final=True)
        return res


def node_info() -> dict[str, Any]:
    info: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(), "node_id": None}
    try:
        import ray

        # only inside a Ray worker or driver: asking for the runtime context of an uninitialised Ray
        # would start a local Ray instance in this process (and a later ray.init would then fail)
        if ray.is_initialized():
            info["node_id"] = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: S110 - outside Ray (unit tests): no node id
        pass
    return info


class CameraActor:
    """One camera. Created by :class:`openlfr.runtime.ray_runtime.RayRunner` as a Ray actor
    (``ray.remote(CameraActor)``); usable in-process too (tests)."""

    def __init__(self, work: WorkerInputs, index: WatchlistIndex, resume: Resume | None) -> None:
        self._lock = threading.Lock()
        self._out: deque[tuple[int, Event | FrameCounts]] = deque()
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker: CameraWorker | None = None
        self._analyser: ResumableAnalyser | None = None
        self.spec = spec = work.spec
        try:
            analyser = work.analyser(ResumableAnalyser, index, emit=self._emit, resume=resume)
            inner = open_source(
                spec.url,
                loop=spec.loop,
                realtime=False,
                open_timeout=spec.open_timeout_s,
                read_timeout=spec.read_timeout_s,
            )
            after = resume.checkpoint["t"] if resume is not None and resume.checkpoint is not None else None
            source = ResumableSource(inner, after_t=None if inner.live else after, realtime=spec.realtime)
            self._analyser = analyser
            self._worker = CameraWorker(spec, analyser, self._emit, self._stop, preview=work.preview, source=source)
        except OpenLFRError as exc:
            log.warning("camera %s cannot start: %s", self.spec.name, exc.message)
            self._emit(WorkerDone(self.spec.name, SourceState.FAILED, exc.message))

    # -- the outbox ---------------------------------------------------------------------------

    def _emit(self, ev: Event | FrameCounts) -> None:
        if isinstance(ev, TracksEnded):
            return  # track summaries stay on the worker
        with self._lock:
            if len(self._out) >= OUTBOX_MAX:  # nobody polls: keep alerts and counters, drop previews
                if isinstance(ev, PreviewMsg):
                    return
                self._out = deque(x for x in self._out if not isinstance(x[1], PreviewMsg))
            self._seq += 1
            self._out.append((self._seq, ev))

    def poll(self, ack: int = 0, max_items: int = 500) -> list[tuple[int, Any]]:
        """Events after ``ack`` (oldest first, at most ``max_items``); forgets those up to ``ack``."""
        with self._lock:
            while self._out and self._out[0][0] <= ack:
                self._out.popleft()
            return [self._out[i] for i in range(min(max_items, len(self._out)))]

    # -- control ------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Start the camera's threads (once); returns where it runs."""
        if self._worker is not None and self._thread is None:
            worker = self._worker

            def run() -> None:
                try:
                    worker.run()
                except Exception as exc:  # a bug must surface as a failed camera, not a silent actor
                    log.exception("camera %s crashed", worker.spec.name)
                    self._emit(WorkerDone(worker.spec.name, SourceState.FAILED, mask_url(f"crashed: {exc!r}")))

            self._thread = threading.Thread(target=run, name=f"camera-{self.spec.name}", daemon=True)
            self._thread.start()
        return node_info()

    def set_index(self, index: WatchlistIndex) -> int:
        """Use a refreshed watchlist from the next frame on; returns its size."""
        if self._analyser is not None:
            self._analyser.request_index(index)
        return index.size

    def stop(self) -> None:
        self._stop.set()

    def ping(self) -> dict[str, Any]:
        return node_info()
