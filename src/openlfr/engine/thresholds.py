"""Default operating thresholds per embedder family: the one place these numbers live.

A threshold is chosen from measurement, never folklore: for each model, the score at which a
stranger searched against a 1,000-person watchlist matches no one in at least 999 of 1,000
searches (FPIR(N=1000, tau) <= 1e-3), measured on lfw-dev. See docs/evaluation.md for the run.
"""

from __future__ import annotations

from openlfr.engine.protocols import Embedder
from openlfr.errors import ConfigError

# PRELIMINARY (being re-measured by the evaluation harness; see docs/evaluation.md).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "dlib-resnet-v1@": 0.96,
}


def family_of(embedder: Embedder) -> str:
    return str(getattr(embedder, "family", embedder.model_id))


def default_threshold(embedder: Embedder) -> float:
    fam = family_of(embedder)
    for key, value in DEFAULT_THRESHOLDS.items():
        if fam == key or (key.endswith("@") and fam.startswith(key)):
            return value
    raise ConfigError(f"no measured default threshold for embedder {fam}; pass --threshold or "
                      "calibrate it with `openlfr eval calibrate`", code="no_threshold")
