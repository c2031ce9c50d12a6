"""Reusable engine options for commands that run the face engine.

Use the ``Annotated`` aliases as parameters of a Typer command and pass the values to
:func:`engine_config`::

    def cmd(detector: DetectorOpt = None, embedder: EmbedderOpt = None, upsample: UpsampleOpt = None,
            jitter: JitterOpt = None, detector_model: DetectorModelOpt = None,
            embedder_model: EmbedderModelOpt = None, detector_option: DetectorOptionOpt = None,
            embedder_option: EmbedderOptionOpt = None) -> None:
        cfg = engine_config(detector, embedder, upsample=upsample, jitter=jitter, ...)

Unset options fall back to the process settings (``OPENLFR_DETECTOR``, ``OPENLFR_EMBEDDER``,
``OPENLFR_HOG_UPSAMPLE``, ``OPENLFR_MIN_FACE_PX``) and then to each backend's own defaults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.errors import ConfigError

if TYPE_CHECKING:
    from openlfr.engine.pipeline import EngineConfig

_DLIB_DETECTORS = frozenset({"dlib-hog", "dlib-mmod"})
_JITTER_EMBEDDERS = frozenset({"dlib-resnet"})

DetectorOpt = Annotated[str | None, typer.Option(
    "--detector", help="Detector type: frdetect (default), mtcnn, dlib-hog, dlib-mmod, blazeface, yunet, scrfd.",
    show_default=False)]
EmbedderOpt = Annotated[str | None, typer.Option(
    "--embedder", help="Embedder type: frfeature-512 (default: fr_feature, 512-d), fused-arcface (fr_feature + "
                       "MobileFaceNet-192), fused (dlib's ResNet + MobileFaceNet-192, the old default), "
                       "dlib-resnet-onnx, dlib-resnet, mobilefacenet-192, onnx-arcface.", show_default=False)]
UpsampleOpt = Annotated[int | None, typer.Option(
    "--upsample", min=0, max=3, help="Detector upsampling steps (dlib detectors; default 1 for HOG).",
    show_default=False)]
JitterOpt = Annotated[int | None, typer.Option(
    "--jitter", min=0, max=100, help="dlib descriptor jitter: average of N randomly jittered chips "
                                     "(dlib-resnet only; default 0).", show_default=False)]
DetectorModelOpt = Annotated[str | None, typer.Option(
    "--detector-model", help="Detector model file (path) or catalogue name (ONNX detectors).",
    show_default=False)]
EmbedderModelOpt = Annotated[str | None, typer.Option(
    "--embedder-model", help="Embedder model file (path) or catalogue name (onnx-arcface).",
    show_default=False)]
DetectorOptionOpt = Annotated[list[str] | None, typer.Option(
    "--detector-option", help="Extra detector option KEY=VALUE (VALUE parsed as JSON when it can be); "
                              "repeatable.", show_default=False)]
EmbedderOptionOpt = Annotated[list[str] | None, typer.Option(
    "--embedder-option", help="Extra embedder option KEY=VALUE; repeatable.", show_default=False)]


def parse_options(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--{what}-option expects KEY=VALUE, got {item!r}", code="bad_option")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _model_option(ref: str) -> dict[str, Any]:
    return {"path": ref} if Path(ref).expanduser().is_file() else {"model": ref}


def engine_config(detector: str | None = None, embedder: str | None = None, *, upsample: int | None = None,
                  jitter: int | None = None, detector_model: str | None = None,
                  embedder_model: str | None = None, detector_option: list[str] | None = None,
                  embedder_option: list[str] | None = None, landmarks: int | None = None,
                  padding: float | None = None, min_face_px: int | None = None) -> EngineConfig:
    """An ``EngineConfig`` from command-line values (``None`` = settings / backend default)."""
    from openlfr.engine.pipeline import EngineConfig
    from openlfr.settings import load_settings

    s = load_settings()
    det = detector or s.detector
    emb = embedder or s.embedder
    det_opts: dict[str, Any] = {}
    if det in _DLIB_DETECTORS:
        det_opts["upsample"] = upsample if upsample is not None else (s.hog_upsample if det == "dlib-hog" else 0)
        det_opts["min_face_px"] = min_face_px if min_face_px is not None else s.min_face_px
    else:
        if upsample is not None:
            raise ConfigError(f"--upsample applies to the dlib detectors, not {det}", code="bad_option")
        if min_face_px is not None:
            det_opts["min_face_px"] = min_face_px
    if detector_model:
        det_opts.update(_model_option(detector_model))
    det_opts.update(parse_options(detector_option, "detector"))
    emb_opts: dict[str, Any] = {}
    if jitter:
        if emb not in _JITTER_EMBEDDERS:
            raise ConfigError(f"--jitter applies to dlib-resnet, not {emb}", code="bad_option")
        emb_opts["jitter"] = jitter
    if embedder_model:
        emb_opts.update(_model_option(embedder_model))
    emb_opts.update(parse_options(embedder_option, "embedder"))
    al_opts: dict[str, Any] = {}
    if landmarks is not None:
        al_opts["points"] = landmarks
    if padding is not None:
        al_opts["padding"] = padding
    return EngineConfig.model_validate({"detector": det, "detector_options": det_opts, "embedder": emb,
                                        "embedder_options": emb_opts, "aligner_options": al_opts})
