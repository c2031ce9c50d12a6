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


def test_default_detector_is_mtcnn() -> None:
    """The default detector is MTCNN on the vendored files (docs/models.md, MTCNN section): settings,
    engine config, the context's engine and `openlfr models list` agree."""
    from openlfr.services.context import engine_config_from_settings

    assert Settings().detector == "mtcnn"
    assert EngineConfig().detector == "mtcnn" and EngineConfig().detector_options == {"min_face_px": 40}
    cfg = engine_config_from_settings(Settings())
    assert cfg.detector == "mtcnn" and cfg.detector_options == {"min_face_px": 40}
    rows = {r["name"]: r for r in builtin_models()}
    assert {"mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"} <= rows.keys()
    assert "default detector" in rows["mtcnn-pnet"]["spec"]
    assert "default" not in rows["dlib-hog"]["spec"]


def test_eval_workers_run_the_litert_detectors_single_threaded() -> None:
    """With several evaluation worker processes, the default MTCNN (and BlazeFace) get one LiteRT
    thread each, as the ONNX models do, so N workers do not start 2N threads on the cores."""
    from openlfr.eval.compute import EvalPipeline, worker_pipeline

    for det in ("mtcnn", "blazeface"):
        p = EvalPipeline(engine=EngineConfig(detector=det, detector_options={"min_face_px": 40}))
        assert worker_pipeline(p, 2).engine.detector_options == {"min_face_px": 40, "threads": 1}
        assert worker_pipeline(p, 1).engine.detector_options == {"min_face_px": 40}
