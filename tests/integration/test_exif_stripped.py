"""Stored watchlist photos (checked in the decrypted bytes) and every photo the API serves carry no
EXIF, GPS, XMP, comments or text chunks; the pixels are unchanged, an EXIF-rotated photo is stored
upright, and re-enrolling the original photo is recognised as a duplicate."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from tests.conftest import TEST_DATA
from tests.integration.apihelp import ApiEnv, make_env, seed_live_deployment

from openlfr.engine.imageio import decode_image, strip_metadata
from openlfr.storage.models import ReferenceImage, WatchlistEntry
from openlfr.storage.sealed import unseal

FACE = TEST_DATA / "faces" / "Adrien_Brody"
SECRETS = [
    b"SecretCam-9000",
    b"Jane Photographer",
    b"my private comment",
    b"xmp-secret-location",
    b"Exif\x00\x00",
    b"tEXt",
    b"eXIf",
    b"iTXt",
]
XMP = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description>xmp-secret-location</rdf:Description></x:xmpmeta>"


def _exif(orientation: int = 1) -> bytes:
    ex = Image.Exif()
    ex[0x010F] = "SecretCam-9000"  # Make
    ex[0x013B] = "Jane Photographer"  # Artist
    ex[0x0112] = orientation
    gps = ex.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (51.0, 30.0, 12.5), "W", (0.0, 7.0, 39.0)
    return ex.tobytes()


def _jpeg_with_metadata(src: bytes, orientation: int = 1) -> bytes:
    im = Image.open(io.BytesIO(src)).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92, exif=_exif(orientation), comment=b"my private comment")
    data = buf.getvalue()
    app1 = b"\xff\xe1" + (len(XMP) + 2).to_bytes(2, "big") + XMP
    return data[:2] + app1 + data[2:]


def _png_with_metadata(src: bytes) -> bytes:
    from PIL import PngImagePlugin

    im = Image.open(io.BytesIO(src)).convert("RGB")
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Photographer")
    info.add_itxt("Comment", "my private comment")
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=info, exif=_exif())
    return buf.getvalue()


def _assert_clean(data: bytes) -> None:
    for s in SECRETS:
        assert s not in data, s
    with Image.open(io.BytesIO(data)) as im:
        assert not dict(im.getexif()), dict(im.getexif())
        assert not {
            k
            for k in im.info
            if k
            not in (
                "jfif",
                "jfif_version",
                "jfif_unit",
                "jfif_density",
                "dpi",
                "adobe",
                "adobe_transform",
                "progressive",
                "progression",
            )
        }, im.info


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("exif") / "data")
        e.extra.update(seed_live_deployment(e, TEST_DATA / "faces", ["Al_Gore"]))
        yield e
        e.client.close()


def test_strip_keeps_pixels() -> None:
    raw = sorted(FACE.glob("*.jpg"))[0].read_bytes()
    for tagged in (_jpeg_with_metadata(raw), _png_with_metadata(raw)):
        assert any(s in tagged for s in SECRETS)
        clean = strip_metadata(tagged)
        _assert_clean(clean)
        assert np.array_equal(decode_image(clean), decode_image(tagged))


def test_stored_and_served_photos_carry_no_metadata(env: ApiEnv) -> None:
    c, sup = env.client, env.h("supervisor")
    photos = sorted(FACE.glob("*.jpg"))
    jpg = _jpeg_with_metadata(photos[0].read_bytes())
    png = _png_with_metadata(photos[1].read_bytes())
    rotated = _jpeg_with_metadata(_rotated_bytes(photos[2].read_bytes()), orientation=6)
    files = [
        ("files", ("a.jpg", jpg, "image/jpeg")),
        ("files", ("b.png", png, "image/png")),
        ("files", ("c.jpg", rotated, "image/jpeg")),
    ]
    r = c.post("/api/watchlists/standing/entries", data={"person_id": "Adrien_Brody"}, files=files, headers=sup)
    assert r.status_code == 200 and r.json()["accepted_images"] == 3, r.text

    with env.ctx.db.session() as s:
        entry = s.scalar(select(WatchlistEntry).where(WatchlistEntry.person_id == "Adrien_Brody"))
        assert entry is not None
        rows = list(
            s.scalars(select(ReferenceImage).where(ReferenceImage.entry_id == entry.id).order_by(ReferenceImage.id))
        )
        stored = [(unseal(env.ctx.cipher, x), x.width, x.height, x.media_type) for x in rows]
    assert len(stored) == 3
    for data, *_ in stored:
        _assert_clean(data)
    assert np.array_equal(decode_image(stored[0][0]), decode_image(jpg))
    assert np.array_equal(decode_image(stored[1][0]), decode_image(png)) and stored[1][3] == "image/png"
    upright = decode_image(rotated)  # orientation applied
    again = decode_image(stored[2][0])
    assert again.shape == upright.shape and np.abs(again.astype(int) - upright).mean() < 3

    for i in range(3):  # served through the API
        r = c.get(f"/api/watchlists/standing/entries/Adrien_Brody/images/{i}", headers=sup)
        assert r.status_code == 200, r.text
        _assert_clean(r.content)
    alert = env.extra["alert_id"]
    for kind in ("probe", "frame", "reference"):
        r = c.get(f"/api/alerts/{alert}/images/{kind}", headers=sup)
        if r.status_code == 200:
            _assert_clean(r.content)

    # the original photo, metadata and all, is the same photo: not stored twice
    r = c.post(
        "/api/watchlists/standing/entries",
        data={"person_id": "Adrien_Brody"},
        files=[("files", ("again.jpg", jpg, "image/jpeg"))],
        headers=sup,
    )
    assert r.status_code == 200 and r.json()["accepted_images"] == 0, r.text
    assert "duplicate" in r.json()["rejected_by_reason"], r.text


def _rotated_bytes(src: bytes) -> bytes:
    """The photo turned 90 degrees anticlockwise, so that EXIF orientation 6 shows it upright."""
    im = Image.open(io.BytesIO(src)).convert("RGB").rotate(90, expand=True)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_big_photos_through_the_api(env: ApiEnv) -> None:
    """A decompression-bomb PNG is refused with image_too_large (check) or a rejection (enrolment); a
    big JPEG is checked with its boxes in the photo's own coordinates."""
    from tests.unit.test_imageio_big import _png_bomb

    c, sup = env.client, env.h("supervisor")
    bomb = _png_bomb(20000, 20000)
    r = c.post("/api/watchlists/standing/check", files={"image": ("bomb.png", bomb, "image/png")}, headers=sup)
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"] == "image_too_large", r.text
    r = c.post(
        "/api/watchlists/standing/entries",
        data={"person_id": "Bomb"},
        files=[("files", ("bomb.png", bomb, "image/png"))],
        headers=sup,
    )
    assert r.status_code == 200 and r.json()["accepted_images"] == 0, r.text
    assert "pixels" in r.json()["rejected"][0]["reason"], r.text

    face = (TEST_DATA / "faces" / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()
    small = c.post("/api/watchlists/standing/check", files={"image": ("s.jpg", face, "image/jpeg")}, headers=sup)
    assert small.status_code == 200 and small.json()["faces"], small.text
    im = Image.open(io.BytesIO(face)).convert("RGB").resize((250 * 20, 250 * 20), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    big = c.post(
        "/api/watchlists/standing/check", files={"image": ("b.jpg", buf.getvalue(), "image/jpeg")}, headers=sup
    )
    assert big.status_code == 200 and big.json()["faces"], big.text
    b0 = np.array(small.json()["faces"][0]["box"]) * 20
    b1 = np.array(big.json()["faces"][0]["box"])
    assert np.abs(b1 - b0).max() < 0.1 * 250 * 20, (b0, b1)  # same face, the photo's own coordinates


def test_plain_jfif_photo_is_unchanged() -> None:
    raw = sorted(FACE.glob("*.jpg"))[0].read_bytes()
    assert raw[6:11] == b"JFIF\x00" and strip_metadata(raw) == raw
