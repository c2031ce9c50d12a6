"""The face engine a command asks for: its choices (detector, embedder, model files, options) over the
process settings' defaults (``OPENLFR_DETECTOR``, ``OPENLFR_EMBEDDER``, ``OPENLFR_HOG_UPSAMPLE``,
``OPENLFR_MIN_FACE_PX``), then each backend's own defaults; a choice that does not apply is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openlfr.engine.pipeline import EngineConfig
from openlfr.errors import ConfigError
from openlfr.settings import load_settings

_DLIB_DETECTORS = frozenset({"dlib-hog", "dlib-mmod"})
_JITTER_EMBEDDERS = frozenset({"dlib-resnet"})


def _parse_options(items: list[str] | None, what: str) -> dict[str, Any]:
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


def engine_config(
    detector: str | None = None,
    embedder: str | None = None,
    *,
    upsample: int | None = None,
    jitter: int | None = None,
    detector_model: str | None = None,
    embedder_model: str | None = None,
    detector_option: list[str] | None = None,
    embedder_option: list[str] | None = None,
    landmarks: int | None = None,
    padding: float | None = None,
    min_face_px: int | None = None,
) -> EngineConfig:
    """An ``EngineConfig`` from command-line values (``None`` = settings / backend default)."""
    from openlfr.services.context import engine_dirs

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
    det_opts.update(_parse_options(detector_option, "detector"))
    emb_opts: dict[str, Any] = {}
    if jitter:
        if emb not in _JITTER_EMBEDDERS:
            raise ConfigError(f"--jitter applies to dlib-resnet, not {emb}", code="bad_option")
        emb_opts["jitter"] = jitter
    if embedder_model:
        emb_opts.update(_model_option(embedder_model))
    emb_opts.update(_parse_options(embedder_option, "embedder"))
    al_opts: dict[str, Any] = {}
    if landmarks is not None:
        al_opts["points"] = landmarks
    if padding is not None:
        al_opts["padding"] = padding
    return EngineConfig.model_validate(
        {
            "detector": det,
            "detector_options": det_opts,
            "embedder": emb,
            "embedder_options": emb_opts,
            "aligner_options": al_opts,
            **engine_dirs(s),
        }
    )
