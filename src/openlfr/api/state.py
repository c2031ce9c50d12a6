"""What the app holds while it runs: the service context, the live manager, the event broker."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openlfr.api.config import ApiSettings
from openlfr.services.context import AppContext
from openlfr.services.image_views import ImageViews

if TYPE_CHECKING:
    from openlfr.api.events import Broker
    from openlfr.api.live import LiveManager
    from openlfr.api.metrics import Metrics


class ClientLimiter:
    """Failed logins per client address in a sliding window (the account lock is in services.users)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, client: str, now: float) -> deque[float]:
        q = self._fails.setdefault(client, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._prune(client, time.monotonic())) >= self.limit

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._prune(client, now).append(now)
            if len(self._fails) > 10_000:  # bound memory under a spray of addresses
                for k in [k for k, v in self._fails.items() if not v][:5000]:
                    del self._fails[k]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)


@dataclass
class AppState:
    ctx: AppContext
    api: ApiSettings
    broker: Broker
    metrics: Metrics
    live: LiveManager
    limiter: ClientLimiter
    engine_lock: threading.Lock = field(default_factory=threading.Lock)
    image_views: ImageViews = field(default_factory=ImageViews)
    """Page views of face images (one audit event per page view, ``services.image_views``)."""
    setup_token: str | None = None
    """One-time token for creating the first admin while no user exists (printed by `openlfr serve`)."""
