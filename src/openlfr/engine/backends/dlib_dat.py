"""A reader for dlib's binary serialisation of a DNN (``dlib::serialize(net)``), in pure Python.

Written from the format itself, for ``dlib_face_recognition_resnet_model_v1.dat``; it knows the
layer types that network uses and refuses anything else with a ``ModelError``.

The format, as far as this reader needs it:

- Integers: one control byte, low 4 bits = number of little-endian magnitude bytes that follow,
  bit 0x80 = negative (so 0 is ``01 00`` and 256 is ``02 00 01``).
- Reals (float/double): two integers, mantissa and exponent, value = mantissa * 2**exponent
  (exponents 32000/32001/32002 stand for +inf, -inf, NaN).
- Strings: an integer length then the bytes. Booleans: one ASCII byte ``'1'`` or ``'0'``.
- Tensors: version, then num_samples, k, nr, nc; version 2 stores the values as raw little-endian
  float32, version 1 as one real per value. ``alias_tensor``: version 1 and the four sizes.
- A network is nested from the output inwards: ``add_loss_layer`` (version, loss details, subnet),
  then each ``add_layer`` writes its version, its *subnet*, then its own layer details and a
  trailer (3 booleans and 2-3 scratch tensors). Tag and skip layers write version 1 and their
  subnet only, and cannot be told apart in the stream (their ids are template arguments). The
  innermost ``add_layer`` holds the input layer. So the file starts with a run of version
  numbers (outermost first) and then the layer details in forward order (input first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from openlfr.errors import ModelError

F32 = npt.NDArray[np.float32]

CONV_MODE = 0
FC_MODE = 1


@dataclass(frozen=True)
class Conv:
    """``con_``: cross-correlation, weights (out, in, kh, kw), bias (out,)."""

    weight: F32
    bias: F32
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """``affine_`` (batch norm frozen at test time): y = x * gamma + beta, per channel in CONV_MODE."""

    gamma: F32
    beta: F32
    mode: int


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    """``max_pool_`` / ``avg_pool_``; size (0, 0) means the whole input (avg_pool_everything)."""

    kind: str  # "max" | "avg"
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    """``add_prev_``: adds the output of a tagged earlier layer (which one is not in the stream)."""


@dataclass(frozen=True)
class FullyConnected:
    """``fc_``: y = x @ weight (+ bias); weight (inputs, outputs)."""

    weight: F32
    bias: F32 | None


@dataclass(frozen=True)
class TagOrSkip:
    """A tag or skip layer (``add_tag_layer`` / ``add_skip_layer``); the stream does not say which."""


Layer = Conv | Affine | Relu | Pool | AddPrev | FullyConnected | TagOrSkip


@dataclass(frozen=True)
class DlibNetwork:
    """A parsed network: loss, input layer and the layers in forward order (input first)."""

    loss: str
    loss_params: tuple[float, ...]
    input_kind: str
    input_mean: tuple[float, float, float]
    input_size: tuple[int, int] | None
    layers: tuple[Layer, ...]


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> ModelError:
        return ModelError(
            f"{self.name}: not a dlib network file we can read ({what} at byte {self.pos})", code="model_corrupt"
        )

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def integer(self) -> int:
        ctrl = self.byte()
        size = ctrl & 0x0F
        if ctrl & 0x70 or size > 8:
            self.pos -= 1
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}")
        end = self.pos + size
        if end > len(self.data):
            raise self.fail("unexpected end of file")
        value = int.from_bytes(self.data[self.pos : end], "little")
        self.pos = end
        return -value if ctrl & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent == 32000:
            return math.inf
        if exponent == 32001:
            return -math.inf
        if exponent == 32002:
            return math.nan
        return math.ldexp(mantissa, exponent)

    def string(self, max_len: int = 256) -> str:
        n = self.integer()
        if not 0 <= n <= max_len or self.pos + n > len(self.data):
            raise self.fail(f"bad string length {n}")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("non-ASCII string") from None

    def boolean(self) -> bool:
        c = self.byte()
        if c not in (0x30, 0x31):
            self.pos -= 1
            raise self.fail(f"bad boolean byte 0x{c:02x}")
        return c == 0x31

    def sizes(self) -> tuple[int, int, int, int]:
        n, k, nr, nc = (self.integer() for _ in range(4))
        if min(n, k, nr, nc) < 0 or n * k * nr * nc > 1 << 28:
            raise self.fail(f"bad tensor shape {(n, k, nr, nc)}")
        return n, k, nr, nc

    def tensor(self) -> F32:
        version = self.integer()
        if version not in (1, 2):
            raise self.fail(f"unknown tensor version {version}")
        shape = self.sizes()
        count = int(np.prod(shape))
        if version == 2:
            end = self.pos + 4 * count
            if end > len(self.data):
                raise self.fail("tensor runs past the end of file")
            arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).astype(np.float32)
            self.pos = end
        else:
            arr = np.array([self.real() for _ in range(count)], dtype=np.float32)
        return arr.reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise self.fail(f"unknown alias_tensor version {version}")
        return self.sizes()

    def peek_input_layer(self) -> bool:
        """Does a string naming an input layer (``input...``) start here?"""
        d, p = self.data, self.pos
        return p + 7 <= len(d) and d[p] == 0x01 and d[p + 2 : p + 7] == b"input"


def _take(params: F32, offset: int, shape: tuple[int, ...], r: _Reader, what: str) -> F32:
    count = int(np.prod(shape))
    flat = params.reshape(-1)
    if offset + count > flat.size:
        raise r.fail(f"{what} parameters shorter than their declared shape")
    return np.ascontiguousarray(flat[offset : offset + count].reshape(shape))


def _read_details(r: _Reader) -> Layer:
    name = r.string()
    if name == "con_4":
        params = r.tensor()
        num_filters, nr, nc = r.integer(), r.integer(), r.integer()
        stride = (r.integer(), r.integer())
        padding = (r.integer(), r.integer())
        f_shape = r.alias()
        b_shape = r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.real()
        if f_shape[0] != num_filters or f_shape[2:] != (nr, nc):
            raise r.fail(f"con_ filter shape {f_shape} disagrees with {num_filters}x{nr}x{nc}")
        weight = _take(params, 0, f_shape, r, "con_")
        n_bias = int(np.prod(b_shape))
        if n_bias not in (0, num_filters):
            raise r.fail(f"con_ bias shape {b_shape}")
        bias = _take(params, weight.size, (num_filters,), r, "con_") if n_bias else np.zeros(num_filters, np.float32)
        return Conv(weight, bias, stride, padding)
    if name == "affine_":
        params = r.tensor()
        g_shape = r.alias()
        b_shape = r.alias()
        mode = r.integer()
        gamma = _take(params, 0, (int(np.prod(g_shape)),), r, "affine_")
        beta = _take(params, gamma.size, (int(np.prod(b_shape)),), r, "affine_")
        return Affine(gamma, beta, mode)
    if name == "relu_":
        return Relu()
    if name in ("max_pool_2", "avg_pool_2"):
        size = (r.integer(), r.integer())
        stride = (r.integer(), r.integer())
        padding = (r.integer(), r.integer())
        return Pool("max" if name.startswith("max") else "avg", size, stride, padding)
    if name == "add_prev_":
        return AddPrev()
    if name == "fc_2":
        num_outputs, num_inputs = r.integer(), r.integer()
        params = r.tensor()
        w_shape = r.alias()
        b_shape = r.alias()
        bias_mode = r.integer()  # 0: has bias, 1: no bias
        for _ in range(4):
            r.real()
        if w_shape[:2] != (num_inputs, num_outputs):
            raise r.fail(f"fc_ weight shape {w_shape} disagrees with {num_inputs}x{num_outputs}")
        weight = _take(params, 0, (num_inputs, num_outputs), r, "fc_")
        fc_bias = (
            _take(params, weight.size, (num_outputs,), r, "fc_") if bias_mode == 0 and int(np.prod(b_shape)) else None
        )
        return FullyConnected(weight, fc_bias)
    raise ModelError(f"{r.name}: dlib layer type {name!r} is not supported by this converter", code="model_unsupported")


def _read_trailer(r: _Reader, n_tensors: int) -> None:
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, getters disabled
        r.boolean()
    for _ in range(n_tensors):  # x_grad, cached_output[, params_grad | grad_final]
        r.tensor()


def parse_dlib_dnn(data: bytes, name: str = "network") -> DlibNetwork:
    """Parse a serialised dlib DNN made of the layer types above. Raises ``ModelError``."""
    r = _Reader(data, name)
    try:
        if r.integer() != 1:
            raise r.fail("unknown add_loss_layer version")
        loss = r.string()
        if loss == "loss_metric_2":
            loss_params: tuple[float, ...] = (r.real(), r.real())  # margin, distance threshold
        elif loss == "loss_metric_":
            loss_params = (r.real(),)
        else:
            raise ModelError(f"{name}: dlib loss {loss!r} is not supported by this converter", code="model_unsupported")
        # The run of version numbers, outermost layer first, down to the input add_layer.
        stack: list[int] = []
        while True:
            version = r.integer()
            if r.peek_input_layer():
                if version not in (2, 3):
                    raise r.fail(f"unknown input add_layer version {version}")
                input_version = version
                break
            if version not in (1, 2):
                raise r.fail(f"unknown layer version {version}")
            stack.append(version)
            if len(stack) > 10_000:
                raise r.fail("implausibly deep network")
        input_kind = r.string()
        if input_kind not in ("input_rgb_image_sized", "input_rgb_image"):
            raise ModelError(f"{name}: dlib input layer {input_kind!r} is not supported", code="model_unsupported")
        mean = (r.real(), r.real(), r.real())
        size = (r.integer(), r.integer()) if input_kind == "input_rgb_image_sized" else None
        layers: list[Layer] = [_read_details(r)]
        _read_trailer(r, 3)  # x_grad, cached_output, grad_final
        if input_version >= 3:
            r.integer()  # sample expansion factor
        for version in reversed(stack):
            if version == 1:
                layers.append(TagOrSkip())
            else:
                layers.append(_read_details(r))
                _read_trailer(r, 3)  # x_grad, cached_output, params_grad
        if r.pos != len(data):
            raise r.fail(f"{len(data) - r.pos} unexpected trailing bytes")
    except ModelError:
        raise
    except (ValueError, OverflowError) as exc:
        raise r.fail(str(exc)) from exc
    return DlibNetwork(loss, loss_params, input_kind, mean, size, tuple(layers))


def read_dlib_dnn(path: Path) -> DlibNetwork:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read dlib model file {path}: {exc.strerror or exc}", code="model_missing") from exc
    return parse_dlib_dnn(data, str(path))
