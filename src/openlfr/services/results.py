"""Result types shared by several services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its rows, and how many rows match in all (before paging)."""

    data: list[T]
    count: int
