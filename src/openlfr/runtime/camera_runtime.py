"""One protocol for every way of running a deployment's cameras, and the factory that picks one.

- :class:`openlfr.runtime.workers.LiveRunner`: this machine (one thread, or one process per camera).
- :class:`openlfr.runtime.ray_runtime.RayRunner`: a Ray cluster, one actor per camera, chosen when a
  Ray address is given (``openlfr serve --ray-address``, ``openlfr run --ray-address`` or the
  ``OPENLFR_RAY_ADDRESS`` setting). Ray is an optional dependency (``pip install 'openlfr[scale]'``).

Both take the same arguments, publish what their cameras send on the run's
:class:`~openlfr.runtime.events.EventBus` (one dispatcher, ``runtime/dispatch.py``) from the thread
that calls ``run``, and expose the same live view (``states``, ``details``, ``totals``) to the console.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from openlfr.engine.matcher import WatchlistIndex
from openlfr.errors import ConfigError
from openlfr.runtime.events import EventBus
from openlfr.runtime.workers import CameraSpec, LiveRunner, RunInputs, RunSummary, SourceState


@runtime_checkable
class CameraRuntime(Protocol):
    """Runs a set of cameras until their sources end or :meth:`stop` is called."""

    cameras: list[CameraSpec]
    bus: EventBus
    states: dict[str, SourceState]
    """Camera name -> current state (connecting, live, stalled, failed, ended, stopped)."""
    details: dict[str, str]
    totals: dict[str, Counter[str]]
    """Camera name -> counters received so far (faces_seen, frames_analysed, ...)."""

    @property
    def alerts(self) -> int:
        """Alerts received so far."""
        ...

    def run(self, max_seconds: float | None = None) -> RunSummary:
        """Start the cameras and dispatch their events in the calling thread until done; flush counters."""
        ...

    def stop(self, reason: str = "stopped") -> None:
        """Ask every camera to stop (safe from a signal handler or another thread)."""
        ...


def create_runtime(
    run: RunInputs,
    bus: EventBus,
    *,
    ray_address: str | None = None,
    ray_options: dict[str, Any] | None = None,
    index_refresh: Callable[[], WatchlistIndex | None] | None = None,
    **kwargs: Any,
) -> CameraRuntime:
    """A :class:`LiveRunner` (``ray_address`` None) or a :class:`RayRunner` for ``run``.

    ``ray_options`` are :class:`openlfr.runtime.ray_runtime.RayOptions` fields (resources per camera,
    ...); ``index_refresh`` is polled by the Ray runtime and returns a new index when the watchlist
    changed (the single-machine runtime keeps the index it started with)."""
    if not ray_address:
        return LiveRunner(run, bus, **kwargs)
    try:
        from openlfr.runtime.ray_runtime import RayOptions, RayRunner
    except ImportError as exc:
        raise ConfigError(
            f"a Ray address was given but Ray is not installed ({exc}); install the "
            "'scale' extra: pip install 'openlfr[scale]'",
            code="ray_missing",
        ) from exc
    opts = RayOptions(address=ray_address, **(ray_options or {}))
    kwargs.pop("mode", None)
    kwargs.pop("engine", None)
    kwargs.pop("own_session", None)
    return RayRunner(run, bus, ray=opts, index_refresh=index_refresh, **kwargs)
