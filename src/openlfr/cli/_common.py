"""Helpers shared by command modules: settings, JSON output, progress bars."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from openlfr.settings import Settings, load_settings

T = TypeVar("T")


def settings() -> Settings:
    return load_settings()


def _plain(obj: Any) -> Any:
    """A service's typed result (a dataclass) as its fields, in their order; anything else as text."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return str(obj)


def emit_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout."""
    typer.echo(json.dumps(obj, ensure_ascii=False, default=_plain))


def progress(items: Iterable[T], total: int | None, label: str, quiet: bool = False) -> Iterator[T]:
    """A rich progress bar on a terminal (stderr); silent with ``--json`` or when not a TTY."""
    if quiet or not sys.stderr.isatty():
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)


@contextmanager
def progress_callback(label: str, quiet: bool = False) -> Iterator[Callable[[int, int | None], None]]:
    """A ``(done, total)`` callback that drives a rich progress bar on a terminal (stderr) and does
    nothing with ``--json`` or when stderr is not a TTY; the bar is stopped on exit."""
    state: dict[str, Any] = {}

    def update(done: int, total: int | None) -> None:
        if quiet or not sys.stderr.isatty():
            return
        if "bar" not in state:
            from rich.progress import Progress

            bar = Progress(transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total)
        state["bar"].update(state["task"], completed=done)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()
