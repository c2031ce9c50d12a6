"""Push to the console: a small publish/subscribe broker feeding Server-Sent Events.

Publishers are camera runner threads; each subscriber (one open ``/api/events`` stream) has a
bounded asyncio queue on the server's event loop. A slow client loses its oldest events (and is
told so) rather than holding up a camera.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)


class Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, roles: frozenset[str], maxsize: int = 200) -> None:
        self.loop = loop
        self.roles = roles
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def offer(self, item: tuple[str, dict[str, Any]]) -> None:
        """Runs on the event loop."""
        if self.queue.full():
            try:
                self.queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
            self.dropped += 1
        self.queue.put_nowait(item)


class Broker:
    def __init__(self) -> None:
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, role: str) -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop(), frozenset({role}))
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, event: str, data: dict[str, Any], roles: frozenset[str] | None = None) -> None:
        """Thread-safe; ``roles``: only subscribers with one of these roles get it."""
        data = {**data, "pushed_at": time.time()}
        with self._lock:
            subs = list(self._subs)
        self.published += 1
        for sub in subs:
            if roles is not None and not (sub.roles & roles):
                continue
            try:
                sub.loop.call_soon_threadsafe(sub.offer, (event, data))
            except RuntimeError:  # loop closed
                self.unsubscribe(sub)


def sse_message(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n".encode()
