"""onnxruntime sessions for the ONNX backend: loading with clear errors, thread control, NMS."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from openlfr.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

DEFAULT_THREADS = 2
ort.set_default_logger_severity(3)


def _telemetry_off() -> bool:
    """onnxruntime's platform telemetry (ETW events on Windows builds; nothing is collected on Linux
    builds) is switched off once, when the ONNX backends are imported, before any session exists."""
    ort.disable_telemetry_events()
    return True


TELEMETRY_DISABLED = _telemetry_off()


def inference_session(src: str | bytes, so: ort.SessionOptions) -> ort.InferenceSession:
    """The one place OpenLFR creates an onnxruntime session (CPU provider, telemetry off)."""
    if not TELEMETRY_DISABLED:  # pragma: no cover - set at import
        _telemetry_off()
    return ort.InferenceSession(src, sess_options=so, providers=["CPUExecutionProvider"])


def check_threads(threads: int) -> int:
    if not isinstance(threads, int) or not 1 <= threads <= 64:
        raise ConfigError(f"threads must be an integer 1..64, got {threads!r}", code="bad_option")
    return threads


def make_session(path: Path, threads: int = DEFAULT_THREADS, model_bytes: bytes | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads; any load failure is a ModelError."""
    check_threads(threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: on a shared or loaded CPU spinning doubled the
    # wall time of 2-thread runs (MobileFaceNet 22 ms vs 10 ms per face at load average 3.5).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    p = Path(path)
    if model_bytes is None:
        if not p.is_file():
            raise ModelError(f"model file {p} not found", code="model_missing")
        with p.open("rb") as f:
            head = f.read(16)
        if not head:
            raise ModelError(f"{p}: empty file, not an ONNX model", code="bad_model_file")
    try:
        src: Any = model_bytes if model_bytes is not None else str(p)
        return inference_session(src, so)
    except Exception as exc:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{p.name}: not a loadable ONNX model ({first[:300]})", code="bad_model_file") from exc


def with_dynamic_hw(path: Path) -> bytes | None:
    """The model re-serialised with symbolic input height/width (and output row counts), or None
    when its input is already dynamic. Fully convolutional detectors (YuNet) ship with a fixed
    640x640 input although their graph reshapes with -1; this lets them run at the frame's size."""
    import onnx

    try:
        m = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(
            f"{Path(path).name}: not a valid ONNX file ({type(exc).__name__})", code="bad_model_file"
        ) from exc
    if len(m.graph.node) == 0:
        raise ModelError(f"{Path(path).name}: not an ONNX model (empty or no graph)", code="bad_model_file")
    inits = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelError(f"{Path(path).name}: expected one image input, found {len(inputs)}", code="bad_model_shape")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelError(
            f"{Path(path).name}: expected a 4-d NCHW image input, got rank {len(dims)}", code="bad_model_shape"
        )
    if not (dims[2].HasField("dim_value") or dims[3].HasField("dim_value")):
        return None
    dims[2].ClearField("dim_value")
    dims[2].dim_param = "height"
    dims[3].ClearField("dim_value")
    dims[3].dim_param = "width"
    for out in m.graph.output:
        od = out.type.tensor_type.shape.dim
        if len(od) >= 2:
            od[1].ClearField("dim_value")
            od[1].dim_param = f"{out.name}_rows"
    del m.graph.value_info[:]
    return bytes(m.SerializeToString())


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int | None = None, mode: str = "union"
) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first. ``mode`` "union"
    (intersection over union) or "min" (intersection over the smaller box, MTCNN's last stage)."""
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if top_k is not None and len(keep) >= top_k:
            break
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        den = np.minimum(areas[i], areas[rest]) if mode == "min" else areas[i] + areas[rest] - inter
        order = rest[inter / np.maximum(den, 1e-9) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def check_unit(name: str, value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1], got {value!r}", code="bad_option")
    return float(value)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (fsync, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_IN_MEMORY: dict[str, tuple[bytes, dict[str, Any]]] = {}
"""Rewrites built without a cache folder, kept for the life of the process."""


def cached_rewrite(
    stem: str, build: Callable[[], tuple[bytes, dict[str, Any]]], cache_dir: Path | None = None
) -> tuple[bytes, dict[str, Any]]:
    """A rewritten model graph, built once (``build`` may import the ``onnx`` package, which costs
    about a second at start-up) and then read from ``<cache_dir>/<stem>.onnx`` with a JSON sidecar
    holding its sha256 and ``build``'s metadata. ``stem`` must name the source file's sha256 and the
    rewrite's version; a cache entry that fails its checksum is rebuilt. Without ``cache_dir`` the
    rewrite is built once per process and kept in memory (nothing is written)."""
    if cache_dir is None:
        if stem not in _IN_MEMORY:
            _IN_MEMORY[stem] = build()
        data, info = _IN_MEMORY[stem]
        return data, dict(info)
    d = Path(cache_dir)
    model_path, meta_path = d / f"{stem}.onnx", d / f"{stem}.json"
    try:
        meta = json.loads(meta_path.read_text())
        data = model_path.read_bytes()
        if isinstance(meta, dict) and meta.get("sha256") == hashlib.sha256(data).hexdigest():
            return data, dict(meta.get("meta", {}))
        log.warning("model cache %s fails its checksum; rebuilding", model_path)
    except (OSError, ValueError):
        pass
    data, info = build()
    try:
        atomic_write(model_path, data)
        atomic_write(meta_path, json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "meta": info}).encode())
    except OSError as exc:  # a read-only cache: run from memory
        log.warning("cannot write the model cache %s (%s)", model_path, exc)
    return data, info
