"""Bounded queues that never block a live producer: when full, the oldest item is dropped and
counted (a camera that outruns the analyser loses stale frames, not fresh ones)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """A thread-safe bounded FIFO.

    ``put(item)`` never blocks: when the queue is full the oldest item is discarded and
    ``drops`` grows. ``put(item, block=True)`` waits for room instead (finite sources, where
    every frame should be analysed). ``close()`` wakes every waiter; ``get`` then drains what is
    left and returns ``None``.
    """

    def __init__(self, maxsize: int = 2) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.drops = 0
        self._reported = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T, block: bool = False, timeout: float | None = None) -> bool:
        """Add ``item``; returns False only if the queue is closed (or ``block`` timed out)."""
        with self._cond:
            if self._closed:
                return False
            if block:
                deadline = None if timeout is None else time.monotonic() + timeout
                while len(self._items) >= self.maxsize and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
                if self._closed:
                    return False
            else:
                while len(self._items) >= self.maxsize:
                    self._items.popleft()
                    self.drops += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, or None after ``timeout`` seconds or once closed and empty."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def clear(self) -> int:
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return n

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take_drops(self) -> int:
        """Drops since the last call (for counters)."""
        with self._cond:
            d = self.drops - self._reported
            self._reported = self.drops
            return d
