"""Backend registry: detectors, aligners and embedders are created from a ``type`` name.

Backends register a factory with :func:`register`; callers use :func:`create`. Optional
backends (ONNX, LiteRT) import lazily so the embedded default needs nothing else.

A backend that reads or writes folders says so when it registers (``dirs=("models_dir",)`` for one
that looks model names up in the local model store, ``("cache_dir",)`` for one that caches rewritten
graphs); :func:`directories` tells the caller which of its folders to pass. The engine never picks a
folder itself: the edge (services) fills them from the settings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal

from openlfr.errors import ConfigError

Kind = Literal["detector", "aligner", "embedder"]
_FACTORIES: dict[tuple[str, str], Callable[..., Any]] = {}
_DIRS: dict[tuple[str, str], tuple[str, ...]] = {}
DIRECTORY_OPTIONS = ("models_dir", "cache_dir")
"""The folder options a backend may declare: the local model store, and the cache of rewritten models."""

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


def register(
    kind: Kind, type_name: str, *, dirs: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    unknown = set(dirs) - set(DIRECTORY_OPTIONS)
    if unknown:
        raise ValueError(f"{kind} {type_name!r}: unknown directory option(s) {sorted(unknown)}")

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _FACTORIES[(kind, type_name)] = factory
        _DIRS[(kind, type_name)] = tuple(dirs)
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
        if exc.name is None or not (
            exc.name == mod or mod.startswith(exc.name + ".") or exc.name in {"onnxruntime", "onnx", "ai_edge_litert"}
        ):
            raise


def available(kind: Kind) -> list[str]:
    _load_backends()
    return sorted(name for (k, name) in _FACTORIES if k == kind)


def _import_home(kind: str, type_name: str) -> None:
    mod = _HOME.get((kind, type_name))
    if mod is not None:
        _import_optional(mod)


def _factory(kind: Kind, type_name: str) -> Callable[..., Any]:
    if (kind, type_name) not in _FACTORIES:
        _import_home(kind, type_name)
    if (kind, type_name) not in _FACTORIES:
        _load_backends()
    try:
        return _FACTORIES[(kind, type_name)]
    except KeyError:
        raise ConfigError(
            f"unknown {kind} type {type_name!r}; available: {', '.join(available(kind)) or 'none'}",
            code="unknown_backend",
        ) from None


def directories(kind: Kind, type_name: str) -> tuple[str, ...]:
    """The folder options (of :data:`DIRECTORY_OPTIONS`) this backend takes."""
    _factory(kind, type_name)
    return _DIRS.get((kind, type_name), ())


def create(kind: Kind, type_name: str, **options: Any) -> Any:
    return _factory(kind, type_name)(**options)
