"""`openlfr models list` shows the fused dlib + MobileFaceNet-192 embedder as the embedded default."""

from __future__ import annotations

from openlfr.engine.models import builtin_models
from openlfr.engine.pipeline import EngineConfig
from openlfr.settings import Settings


def test_default_embedder_is_the_fused_one() -> None:
    assert Settings().embedder == "fused"
    assert EngineConfig().embedder == "fused"
    rows = {r["name"]: r for r in builtin_models()}
    fused = rows["fused"]
    assert fused["kind"] == "embedder" and "default embedder" in fused["spec"]
    assert fused["family"].startswith("fused:" + rows["dlib-resnet-onnx"]["family"] + "+mobilefacenet-192@")
    assert not any("default embedder" in r["spec"] for n, r in rows.items() if n != "fused")
    # the single models stay listed and selectable
    fast = rows["dlib-resnet-onnx"]
    assert fast["sha256"] == rows["dlib-resnet"]["sha256"]  # same weights file
    assert fast["model_id"].endswith("/onnx")
    mfn = rows["mobilefacenet-192"]
    assert mfn["sha256"].startswith("d8ba40c0127f") and mfn["commercial"] is True


def test_models_list_family_matches_the_embedder() -> None:
    from openlfr.engine import registry

    rows = {r["name"]: r for r in builtin_models()}
    assert registry.create("embedder", "fused").family == rows["fused"]["family"]
    assert registry.create("embedder", "mobilefacenet-192").family == rows["mobilefacenet-192"]["family"]
