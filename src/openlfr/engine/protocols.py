"""The three model roles, as protocols. Backends implement them and register by ``type``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from openlfr.types import FaceBatch, FloatArray, Image

Chips = npt.NDArray[np.uint8]
"""Aligned face chips, shape (n, S, S, 3), RGB uint8."""


@dataclass(frozen=True)
class ChipSpec:
    """What an embedder expects: the chip side and the alignment family that makes it.

    ``alignment`` names the aligner family: ``"dlib"`` (dlib's get_face_chip from its 5-point
    shape predictor, with ``padding``) or ``"arcface"`` (similarity transform of 5 landmarks to
    the standard 112x112 ArcFace template).
    """

    size: int
    alignment: str
    padding: float = 0.0


@runtime_checkable
class Detector(Protocol):
    """Finds faces. Returns boxes, scores in [0, 1] and, where the model gives them, landmarks."""

    model_id: str

    def detect(self, image: Image) -> FaceBatch: ...


@runtime_checkable
class Aligner(Protocol):
    """Cuts an aligned chip per face; fills canonical 5-point landmarks where it can."""

    spec: ChipSpec

    def align(self, image: Image, faces: FaceBatch) -> tuple[Chips, FloatArray]:
        """Return (chips (n, S, S, 3) uint8, landmarks (n, 5, 2) float32 in image pixels)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Maps aligned chips to L2-normalised vectors; ``model_id`` names model and version."""

    model_id: str
    dim: int
    chip_spec: ChipSpec

    def embed(self, chips: Chips) -> FloatArray:
        """Return (n, dim) float32, each row of unit length."""
        ...


def l2_normalise(x: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    out: FloatArray = (arr / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def cosine_to_score(cos: npt.ArrayLike) -> FloatArray:
    """The one similarity scale: score = (1 + cos) / 2 in [0, 1], higher is more alike.

    For unit vectors the Euclidean distance is d = sqrt(2 - 2 cos), so score = 1 - d^2 / 4.
    """
    out: FloatArray = np.clip((1.0 + np.asarray(cos, dtype=np.float32)) / 2.0, 0.0, 1.0).astype(np.float32)
    return out


def family_of(embedder: Embedder | str) -> str:
    """The embedder's family: the space its vectors live in (``family``, else ``model_id``), so a faster twin
    of the same network shares watchlists, calibrations and thresholds. A string is taken as a family."""
    if isinstance(embedder, str):
        return embedder
    return str(getattr(embedder, "family", embedder.model_id))
