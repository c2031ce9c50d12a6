"""Known label errors of a labelled image set, left out of a calibration.

A calibration counts every pair of images of *different* identities as an impostor comparison. In LFW a
few such pairs are not impostors at all: one person filed under two spellings, the same photo filed
under two names, and photos filed under the wrong person. They score like genuine pairs and sit at the
very top of the "impostor" tail, which is exactly the part of the tail that sets a large list's
threshold: one mislabeled photo can make a threshold far too strict. An exclusions file lists them:

- ``same_person``: identity folders that are one person (their cross pairs are not impostor pairs;
  their images still count as impostors against everybody else);
- ``mislabeled``: images filed under the wrong identity (left out of the calibration entirely);
- ``same_photo``: pairs of images of one photo under two names (that one pair is left out).

Each entry carries ``why`` (how it was found and checked). The list shipped with OpenLFR
(``eval/data/lfw_label_errors.json``) is applied by default; entries naming folders or files that a
data set does not have are ignored. See docs/evaluation.md for how it was built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openlfr.errors import ConfigError

SHIPPED = Path(__file__).resolve().parent / "data" / "lfw_label_errors.json"


@dataclass(frozen=True)
class Exclusions:
    same_person: list[tuple[str, str]] = field(default_factory=list)
    mislabeled: list[str] = field(default_factory=list)
    same_photo: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""

    @property
    def empty(self) -> bool:
        return not (self.same_person or self.mislabeled or self.same_photo)

    def canonical(self) -> dict[str, str]:
        """Identity -> the one name it is counted under (union of the ``same_person`` pairs)."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.get(x, x) != x:
                x = parent[x]
            return x

        for a, b in self.same_person:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        return {k: find(k) for k in parent}

    def apply(
        self, paths: list[Path], labels: list[str], root: Path
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], list[tuple[int, int]], dict[str, int]]:
        """(identity code per image after merging, keep mask, excluded (i, j) image pairs, counts used)."""
        canon = self.canonical()
        merged = [canon.get(x, x) for x in labels]
        codes = np.unique(np.array(merged), return_inverse=True)[1].astype(np.int64)
        rel = {_rel(p, root): i for i, p in enumerate(paths)}
        keep = np.ones(len(paths), bool)
        mis = [rel[m] for m in self.mislabeled if m in rel]
        keep[mis] = False
        pairs = [(rel[a], rel[b]) for a, b in self.same_photo if a in rel and b in rel]
        present = set(labels)
        used = {
            "same_person": sum(1 for a, b in self.same_person if a in present and b in present),
            "mislabeled": len(mis),
            "same_photo": len(pairs),
        }
        return codes, keep, pairs, used

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "same_person": len(self.same_person),
            "mislabeled": len(self.mislabeled),
            "same_photo": len(self.same_photo),
        }


def _rel(p: Path, root: Path) -> str:
    try:
        return Path(p).relative_to(root).as_posix()
    except ValueError:
        return f"{Path(p).parent.name}/{Path(p).name}"


def load_exclusions(path: Path | None = None) -> Exclusions:
    """Read an exclusions file (default: the list shipped with OpenLFR)."""
    p = path or SHIPPED
    try:
        d = json.loads(p.read_text("utf-8"))
        return Exclusions(
            same_person=[(str(e["a"]), str(e["b"])) for e in d.get("same_person", [])],
            mislabeled=[str(e["image"]) for e in d.get("mislabeled", [])],
            same_photo=[(str(e["a"]), str(e["b"])) for e in d.get("same_photo", [])],
            source=p.name if path is None else str(p),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{p}: unreadable exclusions file ({exc})", code="bad_exclusions") from exc
