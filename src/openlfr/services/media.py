"""Media types of stored and uploaded images, from their bytes (never from a client's declared type)."""

from __future__ import annotations


def sniff_image(data: bytes) -> str | None:
    """The image type from its first bytes, or None if it is not a JPEG, PNG, WebP or BMP."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM":
        return "image/bmp"
    return None
