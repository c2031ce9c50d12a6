"""Backend registry: detectors, aligners and embedders are created from a ``type`` name.

Backends register a factory with :func:`register`; callers use :func:`create`. Optional
backends (ONNX, LiteRT) import lazily so the embedded default needs nothing else.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal

from openlfr.errors import ConfigError

Kind = Literal["detector", "aligner", "embedder"]
_FACTORIES: dict[tuple[str, str], Callable[..., Any]] = {}

# Modules that register backends when imported; imported on first use of the registry.
_BACKEND_MODULES = (
    "openlfr.engine.backends.dlib_backend",
    "openlfr.engine.backends.onnx_backend",
    "openlfr.engine.backends.dlib_onnx",
    "openlfr.engine.backends.blazeface",
    "openlfr.engine.backends.mobilefacenet",
    "openlfr.engine.backends.mtcnn",
    "openlfr.engine.backends.frfeature",
    "openlfr.engine.backends.frdetect",
)
_loaded = False

_HOME: dict[tuple[str, str], str] = {
    ("detector", "dlib-hog"): "openlfr.engine.backends.dlib_backend",
    ("detector", "dlib-mmod"): "openlfr.engine.backends.dlib_backend",
    ("aligner", "dlib"): "openlfr.engine.backends.dlib_backend",
    ("embedder", "dlib-resnet"): "openlfr.engine.backends.dlib_backend",
    ("embedder", "dlib-resnet-onnx"): "openlfr.engine.backends.dlib_onnx",
    ("embedder", "mobilefacenet-192"): "openlfr.engine.backends.mobilefacenet",
    ("embedder", "fused"): "openlfr.engine.backends.mobilefacenet",
    ("detector", "mtcnn"): "openlfr.engine.backends.mtcnn",
    ("detector", "frdetect"): "openlfr.engine.backends.frdetect",
    ("embedder", "frfeature-512"): "openlfr.engine.backends.frfeature",
    ("embedder", "fused-arcface"): "openlfr.engine.backends.frfeature",
    ("detector", "blazeface"): "openlfr.engine.backends.blazeface",
    ("aligner", "arcface"): "openlfr.engine.backends.onnx_backend",
    ("detector", "yunet"): "openlfr.engine.backends.onnx_backend",
    ("detector", "scrfd"): "openlfr.engine.backends.onnx_backend",
    ("embedder", "onnx-arcface"): "openlfr.engine.backends.onnx_backend",
}
"""Where each known type registers itself: :func:`create` imports only that module (a command that
uses the default models does not pay for the others' imports). A type missing here is found by
importing every module of ``_BACKEND_MODULES``."""


def register(kind: Kind, type_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _FACTORIES[(kind, type_name)] = factory
        return factory

    return deco


def _load_backends() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BACKEND_MODULES:
        _import_optional(mod)


def _import_optional(mod: str) -> None:
    """Import a backend module; a module that is not written yet, or whose optional runtime is absent, is skipped."""
    try:
        importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (exc.name == mod or mod.startswith(exc.name + ".")
                                    or exc.name in {"onnxruntime", "onnx", "ai_edge_litert"}):
            raise


def available(kind: Kind) -> list[str]:
    _load_backends()
    return sorted(name for (k, name) in _FACTORIES if k == kind)


def _import_home(kind: str, type_name: str) -> None:
    mod = _HOME.get((kind, type_name))
    if mod is not None:
        _import_optional(mod)


def create(kind: Kind, type_name: str, **options: Any) -> Any:
    if (kind, type_name) not in _FACTORIES:
        _import_home(kind, type_name)
    if (kind, type_name) not in _FACTORIES:
        _load_backends()
    try:
        factory = _FACTORIES[(kind, type_name)]
    except KeyError:
        raise ConfigError(
            f"unknown {kind} type {type_name!r}; available: {', '.join(available(kind)) or 'none'}",
            code="unknown_backend") from None
    return factory(**options)
