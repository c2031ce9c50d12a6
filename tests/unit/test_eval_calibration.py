"""Calibration: counts on the grid, thresholds for target rates, resolution rule, files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ConfigError, NotFoundError
from openlfr.eval.cache import DETECTED, NO_FACE
from openlfr.eval.calibration import Calibration, calibrate, grid, save_calibration
from openlfr.eval.compute import EmbeddingTable
from openlfr.eval.protocols import Dataset
from openlfr.services.operating_point import load_calibration
from openlfr.settings import load_settings
from openlfr.types import QUALITY_FIELDS


def unit(deg: float) -> list[float]:
    r = math.radians(deg)
    return [math.cos(r), math.sin(r)]


def table_and_dataset(status=None):
    # identities a (2 images), b (2 images), c (1 image); angles chosen for easy cosines
    angles = [0, 60, 90, 90, 180]  # a1 a2 b1 b2 c1
    root = Path("/d")
    ids = {"a": 2, "b": 2, "c": 1}
    ds = Dataset(root, {k: [root / k / f"{k}_{i}.jpg" for i in range(n)] for k, n in ids.items()})
    st = np.array(status if status is not None else [DETECTED] * 5, np.int8)
    emb = np.array([unit(a) for a in angles], np.float32)
    emb[st != DETECTED] = np.nan
    t = EmbeddingTable(
        paths=ds.paths,
        hashes=[str(i) for i in range(5)],
        embedding=emb,
        status=st,
        quality=np.zeros((5, len(QUALITY_FIELDS)), np.float32),
        passed=np.ones(5, bool),
        n_faces=np.ones(5, np.int16),
        models={"embedder": "toy@1", "family": "toy@1"},
        model_key='{"embedder": "toy@1"}',
    )
    return t, ds


def test_counts_and_lookups(monkeypatch):
    monkeypatch.setattr("openlfr.eval.calibration.MIN_TAIL_PAIRS", 1)  # a toy of 8 pairs
    t, ds = table_and_dataset()
    cal = calibrate(t, ds)
    # genuine pairs: (a1,a2) cos .5 -> score .75; (b1,b2) cos 1 -> 1.0
    assert cal.genuine_n == 2
    # impostor pairs: 10 - 2 = 8; scores: a1-b* cos 0 -> .5 (x2); a1-c cos -1 -> 0; a2-b* cos .866 -> .933 (x2);
    # a2-c cos -.5 -> .25; b*-c cos 0 -> .5 (x2)
    assert cal.impostor_n == 8
    assert cal.fmr(0.9) == (2, 8)
    assert cal.fmr(0.5) == (6, 8)
    assert cal.fmr(0.0) == (8, 8)
    assert cal.fmr(0.95) == (0, 8)
    assert cal.fnmr(0.8) == (1, 2) and cal.fnmr(0.7) == (0, 2)
    # smallest grid threshold with FMR <= 2/8: just above 0.5
    assert cal.threshold_for_fmr(0.25) == pytest.approx(0.5005)
    # FPIR 0.5 at N = 2 -> FMR 0.25
    assert cal.threshold_for_fpir(0.5, 2) == pytest.approx(0.5005)
    # 1/8 needs n * f >= 1: 8 * 0.125 = 1 -> resolvable; 0.1 is not
    assert cal.threshold_for_fmr(0.125) == pytest.approx(0.9335)
    with pytest.raises(ConfigError) as e:
        cal.threshold_for_fmr(0.1)
    assert e.value.code == "calibration_too_small"
    # identification part: K=1, watchlist a, b; searches a2 (mate a), b2 (mate b), c1 (non-mated)
    ident = cal.identify
    assert ident["watchlist_size"] == 2 and ident["mated"] == 2 and ident["nonmated"] == 1
    assert ident["rank1"] == 0.5  # a2 is nearer b1 (cos .866) than a1 (.5)
    assert cal.tpir(0.99) == (1, 2) and cal.tpir(1.0) == (1, 2)
    v, (lo, hi), k, n = cal.fpir(0.9, 2)
    assert (k, n) == (2, 8) and v == pytest.approx(0.5) and lo < v < hi


def test_failures_excluded():
    t, ds = table_and_dataset([DETECTED, DETECTED, DETECTED, DETECTED, NO_FACE])
    cal = calibrate(t, ds)
    assert cal.impostor_n == 4 and cal.genuine_n == 2


def test_grid():
    g = grid()
    assert g[0] == 0.0 and g[-1] == 1.0 and len(g) == 2001


def test_save_load_and_missing(data_dir, monkeypatch):
    monkeypatch.setattr("openlfr.eval.calibration.MIN_TAIL_PAIRS", 1)  # a toy of 8 pairs
    t, ds = table_and_dataset()
    cal = calibrate(t, ds)
    s = load_settings()
    path = save_calibration(cal, s)
    assert path == data_dir / "calibration" / "toy@1.json"
    back = load_calibration("toy@1", s)
    assert isinstance(back, Calibration) and back.impostor_n == 8
    np.testing.assert_array_equal(back.impostor_ge, cal.impostor_ge)
    assert load_calibration("toy@1", s).threshold_for_fpir(0.5, 2) == pytest.approx(0.5005)
    with pytest.raises(NotFoundError):
        load_calibration("other@2", s)
    summary = back.summary()
    assert summary["threshold_for_fpir"]["100"]["0.01"] is None  # 8 comparisons cannot resolve 1e-4


@pytest.mark.parametrize("which", ["dlib", "default"])
def test_packaged_calibration_serves_the_default_embedder(data_dir, which):
    # a fresh data dir has no calibration: the one shipped (lfw-dev) for dlib's ResNet and for the
    # default embedder (fr_feature) is used
    from openlfr.engine import registry
    from openlfr.engine.protocols import family_of
    from openlfr.services.operating_point import DEFAULT_THRESHOLDS
    from openlfr.settings import Settings

    fam = (
        next(iter(DEFAULT_THRESHOLDS))
        if which == "dlib"
        else family_of(registry.create("embedder", Settings().embedder))
    )
    assert fam in DEFAULT_THRESHOLDS
    cal = load_calibration(fam)
    assert cal.family == fam and cal.impostor_n > 40_000_000
    t = load_calibration(fam).threshold_for_fpir(1e-3, 1000)
    assert (0.97 if which == "dlib" else 0.75) < t < 1.0
    k, n = cal.fmr(t)
    assert k / n * 1000 <= 1e-3
    with pytest.raises(ConfigError):  # 1e-5 / 10,000 = 1e-9: beyond 42M comparisons
        load_calibration(fam).threshold_for_fpir(1e-5, 10_000)


def _scores_ge(cal: Calibration, t: float) -> int:
    return cal.fmr(t)[0]


def test_exclusions_remove_label_errors_from_the_impostor_tail() -> None:
    """a1/a2 at 0/60 degrees, b1 = b2 at 90, c1 at 180. Pretend c is a1's other spelling, b1 a mislabeled
    photo, and (a2, b2) one photo under two names: each leaves the impostor counts as stated."""
    from openlfr.eval.exclusions import Exclusions

    table, ds = table_and_dataset()
    base = calibrate(table, ds)
    assert base.impostor_n == 8 and base.genuine_n == 2
    # same_person (a, c): the 4 cross pairs a-c are no longer impostor pairs, they are genuine
    merged = calibrate(table, ds, exclusions=Exclusions(same_person=[("a", "c")]))
    assert merged.impostor_n == 6 and merged.genuine_n == 4
    # mislabeled b/b_0.jpg: every pair with it goes (3 impostor, 1 genuine)
    mis = calibrate(table, ds, exclusions=Exclusions(mislabeled=["b/b_0.jpg"]))
    assert mis.impostor_n == 5 and mis.genuine_n == 1
    # same photo (a/a_1.jpg, b/b_1.jpg): that one impostor pair (cos 60 deg: score 0.933) goes
    sp = calibrate(table, ds, exclusions=Exclusions(same_photo=[("a/a_1.jpg", "b/b_1.jpg")]))
    assert sp.impostor_n == 7
    assert _scores_ge(base, 0.93) - _scores_ge(sp, 0.93) == 1
    assert sp.source["exclusions"]["applied"] == {"same_person": 0, "mislabeled": 0, "same_photo": 1}
    # entries naming folders or files the set does not have are ignored
    none = calibrate(table, ds, exclusions=Exclusions(same_person=[("x", "y")], mislabeled=["z/z.jpg"]))
    assert none.impostor_n == base.impostor_n


def test_shipped_lfw_exclusions_load_and_say_why() -> None:
    import json

    from openlfr.eval.exclusions import SHIPPED, load_exclusions

    ex = load_exclusions()
    assert ex.same_person and ex.mislabeled
    raw = json.loads(SHIPPED.read_text())
    for group in ("same_person", "mislabeled", "same_photo"):
        for e in raw.get(group, []):
            assert len(e.get("why", "")) > 20, e
