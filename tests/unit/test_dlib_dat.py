"""dlib's serialisation format as ``dlib_dat`` reads it, on hand-built byte strings (no model files)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openlfr.engine.backends.dlib_dat import Conv, FullyConnected, Relu, TagOrSkip, _Reader, parse_dlib_dnn
from openlfr.errors import ModelError


def enc_int(v: int) -> bytes:
    mag = abs(v)
    body = bytearray()
    while True:
        body.append(mag & 0xFF)
        mag >>= 8
        if mag == 0:
            break
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + bytes(body)


def enc_real(x: float) -> bytes:
    m, e = math.frexp(x)
    mant, exp = int(m * (1 << 53)), e - 53
    while mant and mant % 256 == 0:
        mant //= 256
        exp += 8
    return enc_int(mant) + enc_int(exp)


def enc_str(s: str) -> bytes:
    return enc_int(len(s)) + s.encode()


def enc_tensor(a: np.ndarray) -> bytes:
    shape = [*a.shape, 1, 1, 1, 1][:4]
    return enc_int(2) + b"".join(enc_int(d) for d in shape) + a.astype("<f4").tobytes()


def enc_alias(*shape: int) -> bytes:
    return enc_int(1) + b"".join(enc_int(d) for d in shape)


EMPTY = enc_tensor(np.zeros((0,), np.float32))
TRAILER = b"110" + EMPTY * 3


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"\x01\x00", 0),
        (b"\x01\x01", 1),
        (b"\x02\x00\x01", 256),
        (b"\x81\x1c", -28),
        (b"\x03\x62\x90\xf5", 0xF59062),
        (b"\x08" + b"\xff" * 8, 2**64 - 1),
    ],
)
def test_integers(raw: bytes, value: int) -> None:
    r = _Reader(raw, "t")
    assert r.integer() == value and r.pos == len(raw)
    assert enc_int(value) == raw


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (bytes.fromhex("01 10 81 04"), 1.0),  # how dlib writes 1.0 (double)
        (bytes.fromhex("03 0a d7 a3 81 1c"), 0.04),  # loss_metric margin in the face model
        (bytes.fromhex("03 62 90 f5 81 11"), 122.782),  # avg_red of input_rgb_image_sized
        (bytes.fromhex("01 00 01 0b"), 0.0),
        (enc_int(1) + enc_int(32000), math.inf),
    ],
)
def test_reals(raw: bytes, value: float) -> None:
    assert _Reader(raw, "t").real() == pytest.approx(value, rel=1e-6)


def test_bad_integer_and_bool_bytes() -> None:
    with pytest.raises(ModelError, match="control byte"):
        _Reader(b"\x10\x00", "t").integer()
    with pytest.raises(ModelError, match="boolean"):
        _Reader(b"x", "t").boolean()
    with pytest.raises(ModelError, match="end of file"):
        _Reader(b"\x02\x01", "t").integer()


def tiny_net(trailing: bytes = b"") -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """loss_metric<fc_no_bias<2, relu<tag1<con<2,3,3,1,1, input_rgb_image_sized<4>>>>>>."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)
    b = rng.normal(size=2).astype(np.float32)
    fc = rng.normal(size=(2 * 4 * 4, 2)).astype(np.float32)
    con = (
        enc_str("con_4")
        + enc_tensor(np.concatenate([w.ravel(), b]))
        + b"".join(enc_int(v) for v in (2, 3, 3, 1, 1, 1, 1))
        + enc_alias(2, 3, 3, 3)
        + enc_alias(1, 2, 1, 1)
        + enc_real(1.0) * 2
        + enc_real(1.0)
        + enc_real(0.0)
    )
    fc_details = (
        enc_str("fc_2")
        + enc_int(2)
        + enc_int(32)
        + enc_tensor(fc.ravel())
        + enc_alias(32, 2, 1, 1)
        + enc_alias(0, 0, 0, 0)
        + enc_int(1)
        + enc_real(1.0) * 4
    )
    data = (
        enc_int(1)
        + enc_str("loss_metric_2")
        + enc_real(0.04)
        + enc_real(0.6)
        + enc_int(2)
        + enc_int(2)
        + enc_int(1)  # fc, relu, tag: outermost first
        + enc_int(3)
        + enc_str("input_rgb_image_sized")
        + enc_real(122.782)
        + enc_real(117.001)
        + enc_real(104.298)
        + enc_int(4)
        + enc_int(4)
        + con
        + TRAILER
        + enc_int(1)
        + enc_str("relu_")
        + TRAILER
        + fc_details
        + TRAILER
        + trailing
    )
    return data, w, b, fc


def test_parse_tiny_network() -> None:
    data, w, b, fc = tiny_net()
    net = parse_dlib_dnn(data, "tiny.dat")
    assert net.loss == "loss_metric_2"
    assert net.loss_params == pytest.approx((0.04, 0.6))
    assert net.input_kind == "input_rgb_image_sized" and net.input_size == (4, 4)
    assert net.input_mean == pytest.approx((122.782, 117.001, 104.298))
    conv, tag, relu, dense = net.layers
    assert isinstance(conv, Conv) and isinstance(tag, TagOrSkip) and isinstance(relu, Relu)
    assert isinstance(dense, FullyConnected) and dense.bias is None
    np.testing.assert_array_equal(conv.weight, w)
    np.testing.assert_array_equal(conv.bias, b)
    assert conv.stride == (1, 1) and conv.padding == (1, 1)
    np.testing.assert_array_equal(dense.weight, fc)


def test_truncated_trailing_and_unknown_layers_are_model_errors() -> None:
    data, *_ = tiny_net()
    for cut in (1, len(data) // 3, len(data) - 1):
        with pytest.raises(ModelError) as err:
            parse_dlib_dnn(data[:cut], "tiny.dat")
        assert err.value.code == "model_corrupt" and "tiny.dat" in err.value.message
    with pytest.raises(ModelError, match="trailing bytes"):
        parse_dlib_dnn(tiny_net(b"\x00")[0], "tiny.dat")
    with pytest.raises(ModelError) as err:
        parse_dlib_dnn(data.replace(b"\x05relu_", b"\x05tanh_"), "tiny.dat")
    assert err.value.code == "model_unsupported"
