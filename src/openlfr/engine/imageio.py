"""Reading images safely: JPEG, PNG, WebP, BMP (and GIF first frame) via Pillow.

Every failure becomes an ``InputError`` with a stable code and a message that names the file;
nothing here writes anything.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from openlfr.errors import InputError
from openlfr.types import Image

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_SIDE = 4096
"""Working size: a decoded image's long side is at most this many pixels (faces need far less).
A larger JPEG is decoded straight at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, so the full
bitmap never exists in memory) and then resized; other formats are decoded (bounded by
``max_pixels``) and resized at once."""


def read_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file", code="file_not_found")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file", code="not_a_file")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"{p}: empty file (0 bytes)", code="empty_image")
    if size > max_bytes:
        raise InputError(f"{p}: {size} bytes exceeds the limit of {max_bytes}", code="image_too_large")
    return p.read_bytes()


def decode_image(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_side: int = DEFAULT_MAX_SIDE) -> Image:
    """Decode to RGB uint8 (H, W, 3), applying EXIF orientation; grayscale becomes 3 channels.

    Images over ``max_pixels`` are refused from their header (nothing decoded); images whose long
    side is over ``max_side`` are downscaled to it (see ``DEFAULT_MAX_SIDE``)."""
    return decode_image_scaled(data, name, max_pixels, max_side)[0]


def decode_image_scaled(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
                        max_side: int = DEFAULT_MAX_SIDE) -> tuple[Image, float]:
    """:func:`decode_image` and the factor from its coordinates to the upright original's
    (1.0 unless it was downscaled)."""
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)", code="empty_image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            with PILImage.open(io.BytesIO(data)) as im:
                fmt = im.format or "?"
                if fmt not in ACCEPTED_FORMATS:
                    raise InputError(f"{name}: unsupported image format {fmt}; use JPEG, PNG, WebP or BMP",
                                     code="unsupported_image")
                w, h = im.size
                if w * h > max_pixels:
                    raise InputError(f"{name}: {w}x{h} pixels exceeds the limit of {max_pixels} "
                                     "(possible decompression bomb)", code="image_too_large")
                long_side = max(w, h)
                if fmt in ("JPEG", "MPO") and long_side > max_side:
                    # libjpeg picks the largest 1/2^k reduction that keeps both sides >= the request
                    half = max(1, max_side // 2)
                    im.draft("RGB", (max(1, w * half // long_side), max(1, h * half // long_side)))
                im.load()
                if max(im.size) > max_side:
                    im.thumbnail((max_side, max_side), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
                upright: PILImage.Image = ImageOps.exif_transpose(im) or im
                rgb = upright.convert("RGB")
                scale = long_side / max(rgb.size)
        except InputError:
            raise
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
            raise InputError(f"{name}: refused as a possible decompression bomb ({exc})",
                             code="image_too_large") from exc
        except UnidentifiedImageError as exc:
            raise InputError(f"{name}: not an image file Pillow can read", code="not_an_image") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{name}: corrupt or truncated image ({exc})", code="corrupt_image") from exc
    arr = np.asarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 8 or arr.shape[1] < 8:
        raise InputError(f"{name}: image too small ({arr.shape[1]}x{arr.shape[0]})", code="image_too_small")
    return np.ascontiguousarray(arr), float(scale)


def load_image(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    return decode_image(read_bytes(path, max_bytes), name=str(path), max_pixels=max_pixels)


def encode_jpeg(image: Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
