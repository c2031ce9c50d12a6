"""One runner per live deployment: a lease in the database.

A runner (``openlfr run --deployment``, the console's start, the Ray driver) takes the lease of its
deployment before its cameras start, renews it every third of ``settings.runner_lease_s`` and gives
it back when it stops. While another runner holds an unexpired lease, a second one is refused
(``ConflictError``, code ``deployment_busy``) with who holds it and until when. A runner killed
with SIGKILL cannot give it back: its lease lapses after ``runner_lease_s``, or at once when the
holder ran on this host and its process is gone. A runner that finds its lease taken over (it was
paused for longer than the lease) stops its cameras.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from openlfr.errors import ConflictError, NotFoundError
from openlfr.services.context import AppContext
from openlfr.storage.repos.deployments import DeploymentRepo

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def new_holder() -> str:
    """``host:pid:random``: who holds a lease (the host and pid let this host see a dead holder)."""
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{secrets.token_hex(6)}"


def holder_gone(holder: str) -> bool:
    """True when ``holder`` ran on this host and its process no longer exists."""
    try:
        host, pid_s, _ = holder.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname()[:200] or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class DeploymentLease:
    """The lease one runner holds on one deployment (use as a context manager)."""

    def __init__(
        self, ctx: AppContext, deployment_id: int, holder: str | None = None, ttl_s: float | None = None
    ) -> None:
        self.ctx = ctx
        self.deployment_id = deployment_id
        self.holder = holder or new_holder()
        self.ttl_s = float(ttl_s if ttl_s is not None else ctx.settings.runner_lease_s)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_lost: Callable[[], None] | None = None
        self.renewals = 0

    def acquire(self) -> None:
        now = _now()
        until = now + timedelta(seconds=self.ttl_s)
        with self.ctx.db.session() as s:
            deps = DeploymentRepo(s)
            dep = deps.get(self.deployment_id)
            if dep is None:
                raise NotFoundError(f"no deployment {self.deployment_id}", code="deployment_not_found")
            cur, cur_until = dep.lease_holder, _utc(dep.lease_until)
            stale = cur is None or cur == self.holder or cur_until is None or cur_until <= now or holder_gone(cur)
            if not stale:
                assert cur is not None and cur_until is not None
                raise ConflictError(
                    f"deployment {self.deployment_id} is already being run by another runner ({cur.rsplit(':', 1)[0]},"
                    f" lease until {cur_until.isoformat(timespec='seconds')}); stop that runner first, or wait "
                    f"{(cur_until - now).total_seconds():.0f}s for the lease of a runner that died to lapse",
                    code="deployment_busy",
                )
            # compare-and-set on what was read, so two runners racing cannot both win
            if not deps.take_lease(self.deployment_id, cur, self.holder, until):
                raise ConflictError(
                    f"deployment {self.deployment_id} was just taken by another runner", code="deployment_busy"
                )
            if cur is not None and cur != self.holder:
                log.warning("deployment %s: took over the lapsed lease of %s", self.deployment_id, cur)

    def renew(self) -> bool:
        """Extend the lease; False when another runner holds it now."""
        until = _now() + timedelta(seconds=self.ttl_s)
        with self.ctx.db.session() as s:
            ok = DeploymentRepo(s).renew_lease(self.deployment_id, self.holder, until)
        if ok:
            self.renewals += 1
        return ok

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        try:
            with self.ctx.db.session() as s:
                DeploymentRepo(s).release_lease(self.deployment_id, self.holder)
        except Exception:  # the store may be down: the lease then lapses by itself
            log.warning(
                "deployment %s: could not release the runner lease; it lapses in %.0fs",
                self.deployment_id,
                self.ttl_s,
                exc_info=True,
            )

    def _renew_loop(self) -> None:
        every = self.ttl_s / 3.0
        while not self._stop.wait(every):
            try:
                if not self.renew():
                    log.error("deployment %s: runner lease taken by another runner; stopping", self.deployment_id)
                    self.lost.set()
                    if self.on_lost:
                        self.on_lost()
                    return
            except Exception:  # store unavailable: keep trying, the lease lasts ttl_s
                log.warning("deployment %s: lease renewal failed; retrying", self.deployment_id, exc_info=True)

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self.deployment_id}", daemon=True)
        self._thread.start()

    def __enter__(self) -> DeploymentLease:
        self.acquire()
        self.start_renewing()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
