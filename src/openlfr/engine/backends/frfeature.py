"""fr_feature (512-d, ONNX Runtime) and its fusion with MobileFaceNet-192 on one ArcFace chip.

The network is ``fr_feature.onnx`` from the npm package ``faceplugin-face-recognition-js`` 0.0.1 (MIT),
vendored byte-identical (``engine/backends/faceplugin.py``, PROVENANCE.md beside the file). Input: one
112x112 RGB chip on the ArcFace 5-point template, ``(x - 127) / 128``, NCHW (the graph fixes the batch
at 1, so chips run one at a time); output: 512-d, compared by cosine.

Two embedder types are registered:

- ``frfeature-512``: fr_feature alone. ``family``: ``frfeature-512@<sha12>``.
- ``fused-arcface`` (the default embedder): fr_feature and MobileFaceNet-192 on the *same* ArcFace chip
  (no second alignment), each unit vector scaled by ``sqrt(weight)`` and concatenated
  (``mobilefacenet.fuse``), so the cosine of two fused vectors is the weighted mean of the two
  models' cosines. ``mfn_weight`` is MobileFaceNet's weight (fr_feature gets ``1 - mfn_weight``); the
  default was chosen on one half of lfw-dev's identities and measured on the other
  (docs/evaluation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openlfr.engine.backends import faceplugin
from openlfr.engine.backends.mobilefacenet import DIM as MFN_DIM
from openlfr.engine.backends.mobilefacenet import (
    MobileFaceNetNet,
    _build,
    _check_chips,
    _check_weight,
    _fmt_weight,
    fuse,
)
from openlfr.engine.backends.onnx_embedders import OnnxArcFaceEmbedder
from openlfr.engine.protocols import Chips, ChipSpec
from openlfr.engine.registry import register
from openlfr.types import FloatArray

MODEL_FILE = "fr_feature.onnx"
SPEC = "frfeature-512"
DIM = 512
SIZE = 112


class FrFeatureEmbedder(OnnxArcFaceEmbedder):
    """fr_feature on ArcFace 112x112 chips. Options: ``threads`` (onnxruntime intra-op threads, 1),
    ``weights_dir`` (another folder holding the same file; its sha256 must still match)."""

    def __init__(self, threads: int = 1, weights_dir: str | Path | None = None) -> None:
        path = faceplugin.verified_file(MODEL_FILE, Path(weights_dir) if weights_dir is not None else None)
        super().__init__(path=path, spec=SPEC, threads=threads, batch_size=1)
        self.sha256 = faceplugin.SHA256[MODEL_FILE]
        self.family = f"{SPEC}@{self.sha256[:12]}"
        self.model_id = self.family + "/onnx"


DEFAULT_MFN_WEIGHT = 0.3


class FusedArcFaceEmbedder:
    """fr_feature (ONNX Runtime) + MobileFaceNet-192 (LiteRT) on one ArcFace chip, weighted cosine fusion.

    Options: ``mfn_weight`` (MobileFaceNet's weight, strictly between 0 and 1), ``threads`` (per runtime).
    ``family``: ``fused-arcface:<fr_feature family>+<mobilefacenet family>@w<weight>``.
    """

    def __init__(self, mfn_weight: float = DEFAULT_MFN_WEIGHT, threads: int = 1) -> None:
        self.mfn_weight = _check_weight("mfn_weight", mfn_weight)
        self.fr = FrFeatureEmbedder(threads=threads)
        self.net = MobileFaceNetNet(threads)
        self.weights = [1.0 - self.mfn_weight, self.mfn_weight]
        self.dim = DIM + MFN_DIM
        self.chip_spec = ChipSpec(size=SIZE, alignment="arcface", padding=0.0)
        mfn = f"mobilefacenet-192@{self.net.sha256[:12]}"
        self.family = f"fused-arcface:{self.fr.family}+{mfn}@w{_fmt_weight(self.mfn_weight)}"
        self.model_id = self.family

    def parts(self, chips: Chips) -> tuple[FloatArray, FloatArray]:
        """The two unit vectors per chip: (fr_feature (n, 512), MobileFaceNet (n, 192))."""
        arr = _check_chips(chips, SIZE)
        if len(arr) == 0:
            return np.zeros((0, DIM), np.float32), np.zeros((0, MFN_DIM), np.float32)
        return self.fr.embed(arr), self.net.embed(arr, False)

    def embed(self, chips: Chips) -> FloatArray:
        arr = _check_chips(chips, SIZE)
        if len(arr) == 0:
            return np.zeros((0, self.dim), np.float32)
        return fuse(list(self.parts(arr)), self.weights)


@register("embedder", "frfeature-512")
def _make_frfeature(**kw: Any) -> FrFeatureEmbedder:
    return _build(FrFeatureEmbedder, "frfeature-512", kw)  # type: ignore[no-any-return]


@register("embedder", "fused-arcface")
def _make_fused_arcface(**kw: Any) -> FusedArcFaceEmbedder:
    return _build(FusedArcFaceEmbedder, "fused-arcface", kw)  # type: ignore[no-any-return]
