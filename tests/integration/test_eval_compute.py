"""Embedding evaluation images with real models: face choice, fallback, failures, workers, cache,
and the dlib-style jitter on the ONNX twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.engine.imageio import load_image
from openlfr.engine.pipeline import EngineConfig
from openlfr.eval.cache import DETECTED, FALLBACK, NO_FACE, UNREADABLE
from openlfr.eval.compute import EvalPipeline, FaceChoice, ImageEmbedder, embed_images

pytestmark = pytest.mark.shared_data

FAST = EngineConfig(embedder="dlib-resnet-onnx", embedder_options={"threads": 1})


def _imgs(lfw_dev: Path, n: int) -> list[Path]:
    return sorted(lfw_dev.glob("A*/*.jpg"))[:n]


def test_fallback_and_failures(lfw_dev: Path, data_dir: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (250, 250), (128, 128, 128)).save(blank)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8not really a jpeg")
    face = _imgs(lfw_dev, 1)[0]
    box = embed_images([face, blank, broken], EvalPipeline(engine=FAST), workers=1, use_cache=False)
    assert box.status.tolist() == [DETECTED, FALLBACK, UNREADABLE]
    assert np.isfinite(box.embedding[:2]).all() and np.isnan(box.embedding[2]).all()
    assert box.counts() == {"images": 3, "detected": 1, "fallback": 1, "no_face": 0, "unreadable": 1}
    none = embed_images(
        [blank], EvalPipeline(engine=FAST, choice=FaceChoice(fallback="none")), workers=1, use_cache=False
    )
    assert none.status.tolist() == [NO_FACE] and not none.acquired.any()


def test_two_workers_match_one_and_cache_serves_the_second_run(lfw_dev: Path, data_dir: Path) -> None:
    paths = _imgs(lfw_dev, 8)
    pipe = EvalPipeline(engine=FAST)
    serial = embed_images(paths, pipe, workers=1, use_cache=False)
    par = embed_images(paths, pipe, workers=2)
    assert par.stats["computed"] == 8 and par.stats["workers"] == 2
    np.testing.assert_allclose(par.embedding, serial.embedding, atol=1e-6)
    again = embed_images(paths, pipe, workers=2)
    assert again.stats["computed"] == 0 and again.stats["cached"] == 8
    np.testing.assert_array_equal(again.embedding, par.embedding)
    assert (data_dir / "cache" / "embeddings").is_dir()
    other = embed_images(paths[:2], EvalPipeline(engine=FAST, choice=FaceChoice(flip=True)), workers=1)
    assert other.stats["computed"] == 2  # a different option is a different cache key


def test_jitter_on_the_onnx_twin_reproduces_dlib(lfw_dev: Path, data_dir: Path) -> None:
    dlib_j = ImageEmbedder(EvalPipeline(engine=EngineConfig(embedder="dlib-resnet", embedder_options={"jitter": 3})))
    onnx_j = ImageEmbedder(EvalPipeline(engine=FAST, choice=FaceChoice(jitter=3)))
    plain = ImageEmbedder(EvalPipeline(engine=FAST))
    for p in _imgs(lfw_dev, 2):
        im = load_image(p)
        a, b, c = (e.embed_image(im).embedding for e in (dlib_j, onnx_j, plain))
        assert float(a @ b) > 0.9999  # same jittered chips, same network
        assert float(a @ c) < 0.9999  # and jitter does change the vector
