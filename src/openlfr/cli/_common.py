"""Helpers shared by command modules: settings, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import typer

from openlfr.settings import Settings, load_settings

T = TypeVar("T")


def settings() -> Settings:
    return load_settings()


def emit_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout."""
    typer.echo(json.dumps(obj, ensure_ascii=False, default=str))


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
