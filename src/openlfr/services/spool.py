"""A durable, encrypted local spool between a live run and its alert store (issue 18, item 3).

When the store cannot be reached (PostgreSQL stopped or restarting, SQLite locked for longer than
its busy timeout), ``SpoolingSink`` writes the alert or counter delta to a file under
``<data_dir>/spool/deployment-<id>/`` -- encrypted with the data key (AES-GCM, the file's name as
associated data, so a file cannot be swapped for another) and fsync'd before ``submit`` returns --
and the run keeps analysing. A flusher thread retries with exponential back-off (0.5 s to 10 s)
and writes the spooled items to the store in the order they came, deleting each file once the
store has committed it. While anything is spooled, new items join the queue (the order holds).

Alerts are idempotent on their ids, so an alert flushed twice (a crash between the store's commit
and the file's deletion) is stored once. A spooled counter delta carries a batch id that the store
records in the same transaction as the counters (``counter_batches``), so a delta flushed again after
such a crash is skipped, not counted twice. A run that ends while the store is still down leaves its files: the
next ``SpoolingSink`` of that deployment (the next ``openlfr run`` or ``openlfr serve``) flushes them
first. An item the store refuses for good (the deployment ended meanwhile) is moved to ``rejected/``
(still encrypted) and logged, never dropped silently.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from openlfr.errors import OpenLFRError
from openlfr.services.alerts import StoreAlertSink
from openlfr.services.context import AppContext
from openlfr.types import AlertRecord

log = logging.getLogger(__name__)

UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError, ConnectionError)
"""Errors that mean "the store cannot be reached now" (retry later), not "the store refuses this"."""


def _encode_alert(a: AlertRecord) -> dict[str, Any]:
    return {
        "alert_id": a.alert_id,
        "deployment_id": a.deployment_id,
        "watchlist_id": a.watchlist_id,
        "entry_id": a.entry_id,
        "person_id": a.person_id,
        "score": a.score,
        "threshold": a.threshold,
        "camera": a.camera,
        "occurred_at": a.occurred_at.isoformat(),
        "track_id": a.track_id,
        "probe_jpeg": base64.b64encode(a.probe_jpeg).decode(),
        "frame_jpeg": base64.b64encode(a.frame_jpeg).decode() if a.frame_jpeg is not None else None,
        "box": list(a.box),
        "models": dict(a.models),
    }


def _decode_alert(d: dict[str, Any]) -> AlertRecord:
    return AlertRecord(
        alert_id=d["alert_id"],
        deployment_id=d["deployment_id"],
        watchlist_id=d["watchlist_id"],
        entry_id=d["entry_id"],
        person_id=d["person_id"],
        score=d["score"],
        threshold=d["threshold"],
        camera=d["camera"],
        occurred_at=datetime.fromisoformat(d["occurred_at"]),
        track_id=d["track_id"],
        probe_jpeg=base64.b64decode(d["probe_jpeg"]),
        frame_jpeg=base64.b64decode(d["frame_jpeg"]) if d["frame_jpeg"] is not None else None,
        box=tuple(d["box"]),
        models=dict(d["models"]),
    )


class SpoolStatus(TypedDict):
    """The alert store as a run sees it (``SpoolingSink.status``)."""

    state: str
    """ok, unavailable (alerts and counters are spooled on disk) or flushing (back; the spool is being written)"""
    spooled: int
    flushed: int
    pending: int
    unavailable_s: float | None
    error: str


class SpoolingSink:
    """An ``AlertSink`` that never loses an alert or counter to a store outage (see the module)."""

    def __init__(
        self,
        ctx: AppContext,
        inner: StoreAlertSink,
        deployment_id: int | None,
        *,
        base_s: float = 0.5,
        max_s: float = 10.0,
    ) -> None:
        self.ctx = ctx
        self.inner = inner
        name = f"deployment-{deployment_id}" if deployment_id is not None else "adhoc"
        self.dir = ctx.settings.data_dir / "spool" / name
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.base_s, self.max_s = base_s, max_s
        self._lock = threading.Lock()  # submit: store directly or spool (and the file sequence)
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = max((int(p.name.split("-", 1)[0]) for p in self._files()), default=0)
        self.spooled = 0
        self.flushed = 0
        self.unavailable_since: float | None = None
        self.last_error = ""
        self.on_change: Callable[[SpoolStatus], None] | None = None
        """Called with :meth:`status` when the store becomes unavailable and when the spool is flushed."""
        self._thread = threading.Thread(target=self._flusher, name=f"spool-{name}", daemon=True)
        self._thread.start()
        if self._files():
            log.warning("%s: %d item(s) spooled by an earlier run; flushing them first", self.dir, len(self._files()))
            self._wake.set()

    # -- the queue on disk -----------------------------------------------------------------------

    def _files(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if p.is_file() and p.suffix == ".spool")

    def _write(self, kind: str, payload: dict[str, Any]) -> None:
        self._seq += 1
        name = f"{self._seq:012d}-{kind}.spool"
        blob = self.ctx.cipher.encrypt(json.dumps(payload).encode(), name.encode())
        tmp = self.dir / (name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.dir / name)
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself survives a power cut
        finally:
            os.close(dfd)
        self.spooled += 1

    def _apply(self, kind: str, payload: dict[str, Any], spooled: bool = True) -> None:
        if kind == "alert":
            self.inner.submit(_decode_alert(payload))
        else:
            # only a spooled delta is recorded by its batch id (a direct one is applied once, in one
            # transaction; recording those too would add a row per camera per second)
            self.inner.count(
                payload["camera"],
                {k: int(v) for k, v in payload["deltas"].items()},
                batch_id=payload.get("batch_id") if spooled else None,
            )

    def _down(self, exc: BaseException) -> None:
        changed = self.unavailable_since is None
        if changed:
            self.unavailable_since = time.monotonic()
            log.warning("alert store unavailable (%s); spooling to %s", type(exc).__name__, self.dir)
        self.last_error = type(exc).__name__
        if changed:
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self.status())
            except Exception:  # a listener (the console's push) must not break the spool
                log.exception("store state listener failed")

    def status(self) -> SpoolStatus:
        """``state`` ok (the store takes alerts and counters directly), unavailable (it cannot be reached:
        they are spooled) or flushing (it answers again; the spool is being written to it); counts of
        items spooled and flushed by this run, and pending on disk now."""
        pending = self.pending
        state = "unavailable" if self.unavailable_since is not None else ("flushing" if pending else "ok")
        return {
            "state": state,
            "spooled": self.spooled,
            "flushed": self.flushed,
            "pending": pending,
            "unavailable_s": None
            if self.unavailable_since is None
            else round(time.monotonic() - self.unavailable_since, 1),
            "error": self.last_error,
        }

    # -- AlertSink -------------------------------------------------------------------------------

    def _submit(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            if not self._files():
                try:
                    self._apply(kind, payload, spooled=False)
                    return
                except UNAVAILABLE as exc:
                    self._down(exc)
            self._write(kind, payload)
        self._wake.set()

    def submit(self, alert: AlertRecord) -> None:
        self._submit("alert", _encode_alert(alert))

    def count(self, camera: str, deltas: dict[str, int]) -> None:
        if any(deltas.values()):
            # the batch id makes a re-applied delta (spooled, committed, runner died before the file's
            # deletion, flushed again by the next run) a no-op in the store
            self._submit(
                "count",
                {"camera": camera, "deltas": {k: int(v) for k, v in deltas.items()}, "batch_id": uuid.uuid4().hex},
            )

    @property
    def available(self) -> bool:
        return self.unavailable_since is None

    @property
    def pending(self) -> int:
        return len(self._files())

    # -- flushing --------------------------------------------------------------------------------

    def flush_once(self) -> bool:
        """Write spooled items to the store in order; True when the spool is empty. Holds only the
        flush lock: a submit never waits for a flush attempt against a store that hangs (it sees
        spooled files and spools behind them, keeping the order)."""
        with self._flush_lock:
            for path in self._files():
                kind = path.name.split("-", 1)[1].rsplit(".", 1)[0]
                try:
                    payload = json.loads(self.ctx.cipher.decrypt(path.read_bytes(), path.name.encode()))
                    self._apply(kind, payload)
                except UNAVAILABLE as exc:
                    self._down(exc)
                    return False
                except OpenLFRError as exc:  # refused for good: keep it aside, encrypted, and say so
                    rejected = self.dir / "rejected"
                    rejected.mkdir(exist_ok=True, mode=0o700)
                    path.replace(rejected / path.name)
                    log.error("spooled %s refused by the store (%s); kept in %s", kind, exc.code, rejected)
                    continue
                path.unlink()
                self.flushed += 1
            was_down = self.unavailable_since is not None
            if was_down:
                log.warning("alert store back; spool flushed (%d item(s) so far)", self.flushed)
            self.unavailable_since = None
            self.last_error = ""
            if was_down:
                self._changed()
            return not self._files()  # a submit may have spooled behind this pass

    def _flusher(self) -> None:
        delay = self.base_s
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            if not self._files():
                delay = self.max_s
                continue
            try:
                ok = self.flush_once()
            except Exception:  # never let the flusher die: the next try may succeed
                log.exception("spool flush failed")
                ok = False
            delay = self.base_s if ok else min(self.max_s, max(self.base_s, delay * 2))

    def close(self, timeout_s: float = 30.0) -> int:
        """Stop the flusher after trying to empty the spool for up to ``timeout_s``; returns what is
        left (flushed by the next run of this deployment)."""
        deadline = time.monotonic() + timeout_s
        delay = self.base_s
        while self._files() and time.monotonic() < deadline:
            if self.flush_once():
                break
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(self.max_s, delay * 2)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5.0)
        left = len(self._files())
        if left:
            log.warning("%d spooled item(s) left in %s for the next run", left, self.dir)
        return left
