"""Protocol plumbing on synthetic data: pairs files, galleries, labels, face choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import InputError
from openlfr.eval.compute import choose_face, fallback_box
from openlfr.eval.protocols import Dataset, build_gallery, load_labels, parse_pairs, restrict_folds, target_key
from openlfr.types import FaceBatch


def _touch(root: Path, name: str, n: int) -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (root / name / f"{name}_{i:04d}.jpg").write_bytes(b"x")


def test_parse_pairs_official_format(tmp_path):
    _touch(tmp_path, "A", 3)
    _touch(tmp_path, "B", 2)
    pf = tmp_path / "pairs.txt"
    pf.write_text("2\t1\nA\t1\t2\nA\t1\tB\t1\nB\t1\t2\nA\t3\tB\t2\n")
    p = parse_pairs(pf, tmp_path)
    assert (p.folds, p.per_fold, len(p)) == (2, 1, 4)
    assert p.same.tolist() == [True, False, True, False]
    assert p.fold.tolist() == [0, 0, 1, 1]
    assert p.a[1].name == "A_0001.jpg" and p.b[1].name == "B_0001.jpg"
    assert len(p.images()) == 5
    assert len(restrict_folds(p, 1)) == 2


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("1\t1\nA\t1\t2\n", "header promises"),
        ("1\t1\nA\t1\nA\t1\tB\t1\n", "expected a matched"),
        ("1\t1\nA\t1\t2\nA\tx\tB\t1\n", "not an integer"),
        ("1\t1\nA\t1\t9\nA\t1\tB\t1\n", "not found"),
        ("", "empty"),
    ],
)
def test_parse_pairs_errors(tmp_path, text, msg):
    _touch(tmp_path, "A", 2)
    _touch(tmp_path, "B", 1)
    pf = tmp_path / "pairs.txt"
    pf.write_text(text)
    with pytest.raises(InputError) as e:
        parse_pairs(pf, tmp_path)
    assert msg in e.value.message and e.value.code == "bad_pairs"


def _ds() -> Dataset:
    r = Path("/x")
    ids = {"a": 3, "b": 1, "c": 2, "d": 1}
    return Dataset(r, {k: [r / k / f"{k}_{i}.jpg" for i in range(n)] for k, n in ids.items()})


def test_gallery_all_eligible():
    g = build_gallery(_ds(), 1)
    assert g.identities == ["a", "c"] and g.eligible == 2
    assert g.templates == [[0], [4]]  # first image of a (row 0) and of c (row 4)
    assert g.search_rows.tolist() == [1, 2, 3, 5, 6]
    assert g.mate.tolist() == [0, 0, -1, 1, -1]


def test_gallery_k2_and_sampling():
    g = build_gallery(_ds(), 2)
    assert g.identities == ["a"] and g.templates == [[0, 1]]
    assert g.mate.tolist() == [0, -1, -1, -1, -1]
    g1 = build_gallery(_ds(), 1, watchlist_size=1, seed=3)
    assert len(g1.identities) == 1
    # the identity left off the list is searched with all its images, non-mated
    off = "a" if g1.identities == ["c"] else "c"
    assert sum(1 for w, m in zip(g1.search_identity, g1.mate, strict=True) if w == off and m == -1) == len(
        _ds().identities[off]
    )
    with pytest.raises(InputError):
        build_gallery(_ds(), 1, watchlist_size=5)


def test_labels_identity_and_image_rows(tmp_path):
    ds = _ds()
    csv = tmp_path / "l.csv"
    csv.write_text("image_or_identity,group\na,g1\nc,g2\nc/c_1.jpg,g1\n# comment\n")
    got = load_labels(csv, ds)
    assert got == {0: "g1", 1: "g1", 2: "g1", 4: "g2", 5: "g1"}
    csv.write_text("nobody,g1\n")
    with pytest.raises(InputError):
        load_labels(csv, ds)
    csv.write_text("a,g1,extra\n")
    with pytest.raises(InputError):
        load_labels(csv, ds)


def test_choose_face_nearest_centre_then_larger():
    fb = FaceBatch(
        xyxy=np.array([[0, 0, 50, 50], [80, 80, 170, 170], [90, 90, 160, 160]], np.float32),
        det_score=np.ones(3, np.float32),
        image_size=(250, 250),
    )
    assert choose_face(fb) == 1  # same centre as face 2, larger
    assert choose_face(FaceBatch.empty((250, 250))) is None


def test_fallback_box_scales_with_image():
    fb = fallback_box(np.zeros((200, 100, 3), np.uint8), (0.25, 0.25, 0.75, 0.75))
    np.testing.assert_allclose(fb.xyxy, [[25, 50, 75, 150]])
    assert fb.image_size == (100, 200)


def test_target_keys():
    assert [target_key(t) for t in (1e-2, 1e-3, 1e-4, 1e-6)] == ["0.01", "0.001", "0.0001", "0.000001"]
