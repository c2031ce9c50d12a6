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
from openlfr.types import IMAGE_SUFFIXES as IMAGE_SUFFIXES
from openlfr.types import Image

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_SIDE = 4096
"""Working size: a decoded image's long side is at most this many pixels (faces need far less).
A larger JPEG is decoded straight at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, so the full
bitmap never exists in memory) and then resized; other formats are decoded (bounded by
``max_pixels``) and resized at once."""


def _check_pixels(name: str, w: int, h: int, max_pixels: int) -> None:
    """Refuse an image larger than ``max_pixels`` before it is decoded (a decompression bomb)."""
    if w * h > max_pixels:
        raise InputError(
            f"{name}: {w}x{h} pixels exceeds the limit of {max_pixels} (possible decompression bomb)",
            code="image_too_large",
        )


def check_rgb(image: Image) -> Image:
    """``image`` itself when it is what detectors take, an RGB uint8 (H, W, 3) array; else ``InputError``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(
            f"detector expects an RGB uint8 (H, W, 3) image, got "
            f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', None)}",
            code="bad_image",
        )
    return image


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


def decode_image(
    data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = DEFAULT_MAX_SIDE
) -> Image:
    """Decode to RGB uint8 (H, W, 3), applying EXIF orientation; grayscale becomes 3 channels.

    Images over ``max_pixels`` are refused from their header (nothing decoded); images whose long
    side is over ``max_side`` are downscaled to it (see ``DEFAULT_MAX_SIDE``)."""
    return decode_image_scaled(data, name, max_pixels, max_side)[0]


def decode_image_scaled(
    data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = DEFAULT_MAX_SIDE
) -> tuple[Image, float]:
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
                    raise InputError(
                        f"{name}: unsupported image format {fmt}; use JPEG, PNG, WebP or BMP", code="unsupported_image"
                    )
                w, h = im.size
                _check_pixels(name, w, h, max_pixels)
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
            raise InputError(
                f"{name}: refused as a possible decompression bomb ({exc})", code="image_too_large"
            ) from exc
        except UnidentifiedImageError as exc:
            raise InputError(f"{name}: not an image file Pillow can read", code="not_an_image") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{name}: corrupt or truncated image ({exc})", code="corrupt_image") from exc
    arr = np.asarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 8 or arr.shape[1] < 8:
        raise InputError(f"{name}: image too small ({arr.shape[1]}x{arr.shape[0]})", code="image_too_small")
    return np.ascontiguousarray(arr), float(scale)


def load_image(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    return decode_image(read_bytes(path, max_bytes), name=str(path), max_pixels=max_pixels)


def encode_jpeg(image: Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


# ---- metadata stripping ---------------------------------------------------------------------

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT"})


def _jpeg_without_metadata(data: bytes) -> bytes:
    """The first JPEG image in ``data`` with every APPn segment (EXIF, GPS, XMP, ICC, maker notes,
    MPF pictures, thumbnails) and comment dropped; the compressed image data is copied unchanged.
    The JFIF header (without thumbnail) and Adobe's APP14 stay: they only say how to read the
    pixels. A plain JFIF photo therefore comes out byte for byte as it went in."""
    n = len(data)
    out = [b"\xff\xd8"]
    i = 2
    while i < n:
        if data[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        while i < n and data[i] == 0xFF:
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == 0xD9:  # end of image: anything after it (a second MPO picture, a trailer) goes
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.append(bytes((0xFF, marker)))
            continue
        if i + 2 > n:
            raise ValueError("truncated JPEG segment")
        seg_len = int.from_bytes(data[i : i + 2], "big")
        if seg_len < 2 or i + seg_len > n:
            raise ValueError("bad JPEG segment length")
        seg = data[i : i + seg_len]
        i += seg_len
        if marker == 0xDA:  # start of scan: header, then entropy-coded data up to the next real marker
            j = i
            while j + 1 < n and not (
                data[j] == 0xFF and data[j + 1] not in (0x00, 0xFF) and not 0xD0 <= data[j + 1] <= 0xD7
            ):
                j += 1
            out.append(b"\xff\xda" + seg + data[i:j])
            i = j
            continue
        if marker == 0xE0 and seg[2:7] == b"JFIF\x00" and len(seg) >= 16:
            # the JFIF header (version, pixel density) stays, without its optional thumbnail
            out.append(b"\xff\xe0" + (16).to_bytes(2, "big") + seg[2:14] + b"\x00\x00")
            continue
        is_app = 0xE0 <= marker <= 0xEF
        if (is_app and not (marker == 0xEE and seg[2:7] == b"Adobe")) or marker == 0xFE:
            continue
        out.append(bytes((0xFF, marker)) + seg)
    out.append(b"\xff\xd9")
    return b"".join(out)


def _png_without_metadata(data: bytes) -> bytes:
    """Only the chunks needed to show the picture (no text, EXIF, time, ICC or animation chunks)."""
    out = [_PNG_SIG]
    i = len(_PNG_SIG)
    n = len(data)
    while i + 8 <= n:
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > n:
            raise ValueError("truncated PNG chunk")
        if kind in _PNG_KEEP:
            out.append(data[i:end])
        i = end
        if kind == b"IEND":
            break
    return b"".join(out)


def strip_metadata(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The photo without EXIF (GPS, camera, time, thumbnails), XMP, ICC, comments or text chunks.

    JPEG and PNG lose only those segments (the pixels are the same bytes). A photo that relies on
    its EXIF orientation, and WebP, BMP and GIF, are re-encoded from their decoded pixels (upright;
    JPEG as JPEG quality 95, the others as PNG) so the result needs no metadata to show correctly.
    Raises ``InputError`` like :func:`decode_image` for anything that is not a readable image."""
    kind = "png" if data[:8] == _PNG_SIG else "jpeg" if data[:3] == b"\xff\xd8\xff" else "other"
    try:
        with PILImage.open(io.BytesIO(data)) as im:
            _check_pixels(name, im.size[0], im.size[1], max_pixels)
            orientation = int(im.getexif().get(0x0112, 1) or 1)
    except InputError:
        raise
    except (PILImage.DecompressionBombError, UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name}: not an image file Pillow can read ({exc})", code="not_an_image") from exc
    if kind != "other" and orientation == 1:
        try:
            clean = _jpeg_without_metadata(data) if kind == "jpeg" else _png_without_metadata(data)
        except ValueError as exc:
            raise InputError(f"{name}: corrupt or truncated image ({exc})", code="corrupt_image") from exc
        decode_image(clean, name=name, max_pixels=max_pixels, max_side=1 << 30)  # still a valid picture
        return clean
    pixels = decode_image(data, name=name, max_pixels=max_pixels, max_side=1 << 30)
    buf = io.BytesIO()
    if kind == "jpeg":
        PILImage.fromarray(pixels).save(buf, format="JPEG", quality=95)
    else:
        PILImage.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
