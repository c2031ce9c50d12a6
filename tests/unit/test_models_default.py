"""`openlfr models list` shows the fast dlib descriptor as the default embedded embedder."""

from __future__ import annotations

from openlfr.engine.models import builtin_models
from openlfr.engine.pipeline import EngineConfig
from openlfr.settings import Settings


def test_default_embedder_is_the_fast_descriptor() -> None:
    assert Settings().embedder == "dlib-resnet-onnx"
    assert EngineConfig().embedder == "dlib-resnet-onnx"
    rows = {r["name"]: r for r in builtin_models()}
    fast = rows["dlib-resnet-onnx"]
    assert fast["kind"] == "embedder" and "default embedder" in fast["spec"]
    assert fast["sha256"] == rows["dlib-resnet"]["sha256"]  # same weights file
    assert fast["model_id"].endswith("/onnx")
