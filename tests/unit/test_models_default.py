"""`openlfr models list` shows the embedded defaults (fr_feature, and the default detector) and the others."""

from __future__ import annotations

from openlfr.engine.models import builtin_models
from openlfr.engine.pipeline import EngineConfig
from openlfr.settings import Settings

DEFAULT_DETECTOR = "frdetect"


def test_default_embedder_is_fr_feature() -> None:
    assert Settings().embedder == "frfeature-512"
    assert EngineConfig().embedder == "frfeature-512"
    rows = {r["name"]: r for r in builtin_models()}
    fr = rows["frfeature-512"]
    assert fr["kind"] == "embedder" and "default embedder" in fr["spec"]
    assert fr["sha256"].startswith("87aacdfe5751") and fr["family"] == "frfeature-512@87aacdfe5751"
    assert "not stated by the authors" in fr["licence"] and fr["commercial"] is True
    assert not any("default embedder" in r["spec"] for n, r in rows.items() if n != "frfeature-512")
    # the earlier default and the single models stay listed and selectable
    assert rows["fused"]["family"].startswith("fused:" + rows["dlib-resnet-onnx"]["family"] + "+mobilefacenet-192@")
    assert rows["fused-arcface"]["family"].startswith("fused-arcface:frfeature-512@87aacdfe5751+mobilefacenet-192@")
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
    assert registry.create("embedder", "frfeature-512").family == rows["frfeature-512"]["family"]
    assert registry.create("embedder", "fused-arcface").family == rows["fused-arcface"]["family"]


def test_default_detector_and_the_others_listed() -> None:
    """The default detector (chosen for recall and speed together, docs/models.md) is the one settings,
    the engine config, the context's engine and `openlfr models list` agree on; HOG and MTCNN stay listed."""
    from openlfr.services.context import engine_config_from_settings

    default = DEFAULT_DETECTOR
    assert Settings().detector == default
    assert EngineConfig().detector == default
    assert engine_config_from_settings(Settings()).detector == default
    rows = {r["name"]: r for r in builtin_models()}
    assert {"mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", "dlib-hog", "frdetect-detect", "frdetect-landmark"} <= rows.keys()
    marked = [n for n, r in rows.items() if "default detector" in r["spec"]]
    assert len(marked) == 1 and rows[marked[0]]["spec"].startswith(default), marked


def test_eval_workers_run_the_litert_detectors_single_threaded() -> None:
    """With several evaluation worker processes, MTCNN (and BlazeFace) get one LiteRT
    thread each, as the ONNX models do, so N workers do not start 2N threads on the cores."""
    from openlfr.eval.compute import EvalPipeline, worker_pipeline

    for det in ("mtcnn", "blazeface"):
        p = EvalPipeline(engine=EngineConfig(detector=det, detector_options={"min_face_px": 40}))
        assert worker_pipeline(p, 2).engine.detector_options == {"min_face_px": 40, "threads": 1}
        assert worker_pipeline(p, 1).engine.detector_options == {"min_face_px": 40}
