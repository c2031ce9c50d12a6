"""Issue 20 item 3: the watchlist and sealed-column repositories on a real database (SQLite, and PostgreSQL when
available): photos and vectors are sealed on write and bound to their row, deletions leave nothing behind, and
re-encryption moves every value to the newest key exactly once."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import pytest
from cryptography.fernet import Fernet

from openlfr.errors import ConflictError
from openlfr.storage.crypto import Cipher
from openlfr.storage.models import ReferenceImage, Watchlist, WatchlistEntry
from openlfr.storage.repos.sealed import COLUMNS, SealedColumns
from openlfr.storage.repos.watchlists import WatchlistRepo

PHOTOS = [b"not a face: photo bytes %d" % i for i in range(3)]
VECTOR = np.arange(8, dtype="<f4").tobytes()


def _seed(s: Any, cipher: Cipher) -> tuple[Watchlist, list[ReferenceImage]]:
    wl = Watchlist(name="repo", created_by="tester", embedder_family="fam")
    s.add(wl)
    s.flush()
    refs = WatchlistRepo(s, cipher)
    imgs = []
    for pid, photos in (("p1", PHOTOS[:2]), ("p2", PHOTOS[2:])):
        e = WatchlistEntry(watchlist_id=wl.id, person_id=pid, added_by="tester")
        for data in photos:
            img = refs.add_photo(e, data, media_type="image/jpeg", width=4, height=4, box={}, quality={})
            refs.add_embedding(img, VECTOR, model_family="fam", model_id="m", dim=8)
            imgs.append(img)
    return wl, imgs


def test_photos_and_vectors_are_sealed_and_bound_to_their_rows(gov_ctx: Any) -> None:
    with gov_ctx.db.session() as s:
        wl, imgs = _seed(s, gov_ctx.cipher)
        refs = WatchlistRepo(s, gov_ctx.cipher)
        for img, data in zip(imgs, PHOTOS, strict=True):
            assert data not in img.image_enc and img.content_sha256 == hashlib.sha256(data).hexdigest()
            assert refs.image_bytes(img) == data
        vectors = refs.sealed_vectors(wl.id, "fam")
        assert [v.person_id for v in vectors] == ["p1", "p1", "p2"]
        assert all(VECTOR not in v.token and refs.open_vector(v) == VECTOR for v in vectors)
        assert refs.sealed_vectors(wl.id, "other") == []
        assert refs.sizes(wl.id) == (2, 3) and [n for _, n in refs.entries_with_photo_counts(wl.id)] == [2, 1]
        imgs[1].image_enc = imgs[0].image_enc  # a photo's ciphertext copied into another row
        with pytest.raises(ConflictError) as exc:
            refs.image_bytes(imgs[1])
        assert exc.value.code == "ciphertext_rejected"
        with pytest.raises(ValueError):
            WatchlistRepo(s).image_bytes(imgs[0])  # no cipher, no plaintext


def test_deleting_an_entry_and_a_list_leaves_no_photo_or_vector(gov_ctx: Any) -> None:
    with gov_ctx.db.session() as s:
        wl, _ = _seed(s, gov_ctx.cipher)
        refs = WatchlistRepo(s)
        p2 = refs.entry_by_person(wl.id, "p2")
        assert p2 is not None and refs.entry(p2.id) is p2 and refs.photo_count(p2.id) == 1
        removed = refs.delete_entry(p2)
        assert (removed.entries, removed.images, removed.embeddings) == (1, 1, 1)
        assert refs.sizes(wl.id) == (1, 2) and len(refs.list_photos(wl.id)) == 2
        removed = refs.delete_list(wl)
        assert (removed.entries, removed.images, removed.embeddings) == (1, 2, 2)
        assert refs.by_name("repo") is None and refs.list_photos(wl.id) == [] and not refs.has_entries(wl.id)
        assert SealedColumns(s).stored_values() == 0


def test_reencryption_moves_every_value_to_the_new_key_once(gov_ctx: Any) -> None:
    old = gov_ctx.cipher
    with gov_ctx.db.session() as s:
        _seed(s, old)
    new = Cipher([Fernet.generate_key(), *(base64.urlsafe_b64encode(k) for k in old.raw_keys)])
    rewritten: dict[str, int] = {}
    for _ in range(2):
        for column in COLUMNS:
            last = 0
            while True:
                with gov_ctx.db.session() as s:
                    batch = SealedColumns(s, new).reencrypt_stale(column, last, 2)  # several batches
                if batch.last_id is None:
                    break
                last = batch.last_id
                rewritten[column] = rewritten.get(column, 0) + batch.rewritten
    assert rewritten == {"reference_images.image_enc": 3, "reference_embeddings.vector_enc": 3}
    with gov_ctx.db.session() as s:
        assert SealedColumns(s).stored_values() == 6
        refs = WatchlistRepo(s, new)
        wl = refs.by_name("repo")
        assert wl is not None
        imgs = refs.list_photos(wl.id)
        assert all(new.is_current(i.image_enc) and not old.is_current(i.image_enc) for i in imgs)
        assert [refs.image_bytes(i) for i in imgs] == PHOTOS
