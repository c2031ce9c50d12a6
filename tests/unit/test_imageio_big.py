"""Big photos are bounded in memory: a decompression-bomb header is refused before decoding, and a
large JPEG is decoded at reduced scale (peak RSS measured in a fresh subprocess)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openlfr.engine.imageio import DEFAULT_MAX_SIDE, decode_image, decode_image_scaled
from openlfr.errors import InputError

FACE = Path(__file__).resolve().parent.parent / "data" / "faces" / "Al_Gore" / "Al_Gore_0001.jpg"

_MEASURE = """
import json, resource, sys, time
from openlfr.engine.imageio import decode_image
data = open(sys.argv[1], "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    out = {"shape": list(decode_image(data, "big").shape)}
except Exception as exc:
    out = {"error": getattr(exc, "code", repr(exc))}
out["seconds"] = time.perf_counter() - t
out["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""


def _measure(path: Path) -> dict[str, object]:
    res = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True, timeout=120
    )
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def _png_bomb(w: int, h: int) -> bytes:
    """A valid tiny PNG whose header claims w x h (the rest of the rows are missing)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", w, h) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def test_bomb_header_refused_without_decoding(tmp_path: Path) -> None:
    bomb = _png_bomb(20000, 20000)
    with pytest.raises(InputError) as ei:
        decode_image(bomb, "bomb.png")
    assert ei.value.code == "image_too_large" and "pixels" in ei.value.message
    with pytest.raises(InputError, match="9000x9000 pixels exceeds the limit"):
        decode_image(_png_bomb(9000, 9000), "bomb2.png")
    p = tmp_path / "bomb.png"
    p.write_bytes(bomb)
    m = _measure(p)
    assert m["error"] == "image_too_large"
    assert float(m["peak_mb"]) < 30  # type: ignore[arg-type]


def test_large_jpeg_decoded_at_reduced_scale_with_bounded_memory(tmp_path: Path) -> None:
    im = Image.open(FACE).convert("RGB").resize((6000, 6600), Image.Resampling.BILINEAR)
    p = tmp_path / "big.jpg"
    im.save(p, format="JPEG", quality=80)
    del im
    m = _measure(p)
    assert "error" not in m, m
    h, w, _ = m["shape"]  # type: ignore[misc]
    assert max(h, w) <= DEFAULT_MAX_SIDE and (h, w) == (3300, 3000)
    # the full 6000x6600 RGB bitmap alone is 119 MB; decoding it used ~520 MB before
    assert float(m["peak_mb"]) < 60, m  # type: ignore[arg-type]


def test_large_png_downscaled_to_working_size() -> None:
    im = Image.open(FACE).convert("RGB").resize((5000, 3000), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    arr, scale = decode_image_scaled(buf.getvalue(), "big.png")
    assert arr.shape == (round(3000 * DEFAULT_MAX_SIDE / 5000), DEFAULT_MAX_SIDE, 3)
    assert scale == pytest.approx(5000 / DEFAULT_MAX_SIDE)


def test_small_image_untouched() -> None:
    arr, scale = decode_image_scaled(FACE.read_bytes(), "face.jpg")
    assert arr.shape == (250, 250, 3) and scale == 1.0
    assert np.array_equal(arr, decode_image(FACE.read_bytes()))


def test_orientation_applied_after_downscale() -> None:
    im = Image.new("RGB", (8000, 4000), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 4000, 4000))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=90)
    arr, scale = decode_image_scaled(buf.getvalue())
    assert arr.shape[0] > arr.shape[1]  # portrait
    assert max(arr.shape) <= DEFAULT_MAX_SIDE
    assert scale == pytest.approx(8000 / max(arr.shape[:2]))
    assert arr[5, arr.shape[1] // 2][2] > 200  # blue on top
