"""Image input: formats, EXIF orientation, grayscale, and every kind of bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openlfr.engine.imageio import decode_image, load_image
from openlfr.errors import InputError

FACE = Path(__file__).resolve().parent.parent / "data" / "faces" / "Al_Gore" / "Al_Gore_0001.jpg"


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP"])
def test_formats_decode_to_rgb(fmt: str) -> None:
    im = Image.open(FACE).convert("RGB")
    arr = decode_image(_encode(im, fmt), name=f"x.{fmt.lower()}")
    assert arr.shape == (250, 250, 3) and arr.dtype == np.uint8


def test_grayscale_becomes_three_channels() -> None:
    arr = load_image(FACE)
    assert Image.open(FACE).mode == "L"
    assert arr.shape == (250, 250, 3)
    assert np.array_equal(arr[..., 0], arr[..., 2])


def test_exif_orientation_is_applied() -> None:
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    arr = decode_image(_encode(im, "JPEG", exif=exif.tobytes(), quality=100))
    assert arr.shape[:2] == (40, 20)  # portrait after orientation
    top, bottom = arr[2, 10], arr[37, 10]
    assert top[2] > 200 and top[0] < 60  # blue on top after a 90-degree clockwise turn
    assert bottom[0] > 200 and bottom[2] < 60


def test_zero_byte(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InputError) as ei:
        load_image(p)
    assert ei.value.code == "empty_image" and "empty" in ei.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as ei:
        load_image(tmp_path / "nope.jpg")
    assert ei.value.code == "file_not_found"


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("this is a text file, not a photo\n" * 20)
    with pytest.raises(InputError) as ei:
        load_image(p)
    assert ei.value.code == "not_an_image"


def test_truncated_jpeg() -> None:
    data = FACE.read_bytes()
    with pytest.raises(InputError) as ei:
        decode_image(data[: len(data) // 2], name="half.jpg")
    assert ei.value.code == "corrupt_image" and "half.jpg" in ei.value.message


def test_corrupt_bytes_inside_jpeg() -> None:
    data = bytearray(FACE.read_bytes())
    data[20:400] = b"\x00" * 380  # wipe the quantisation / huffman tables
    with pytest.raises(InputError) as ei:
        decode_image(bytes(data), name="broken.jpg")
    assert ei.value.code in {"corrupt_image", "not_an_image"}


def test_decompression_bomb() -> None:
    # A 20000 x 20000 one-bit PNG compresses to a few KB but would need 1.2 GB as RGB.
    bomb = _encode(Image.new("1", (20000, 20000)), "PNG", optimize=True)
    assert len(bomb) < 200_000
    with pytest.raises(InputError) as ei:
        decode_image(bomb, name="bomb.png")
    assert ei.value.code == "image_too_large" and "decompression bomb" in ei.value.message


def test_oversized_file(tmp_path: Path) -> None:
    p = tmp_path / "big.jpg"
    p.write_bytes(FACE.read_bytes() + b"\x00" * 2048)
    with pytest.raises(InputError) as ei:
        load_image(p, max_bytes=1024)
    assert ei.value.code == "image_too_large"


def test_unsupported_format() -> None:
    im = Image.new("RGB", (32, 32))
    with pytest.raises(InputError) as ei:
        decode_image(_encode(im, "TIFF"), name="x.tiff")
    assert ei.value.code == "unsupported_image"
