"""The application context: settings, database, cipher and the face engine, created lazily."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.errors import ConfigError
from openlfr.settings import Settings, load_settings
from openlfr.storage.crypto import Cipher, load_cipher
from openlfr.storage.db import Database


def engine_config_from_settings(settings: Settings, **overrides: Any) -> EngineConfig:
    det_opts: dict[str, Any] = {"min_face_px": settings.min_face_px}
    if settings.detector == "dlib-hog":
        det_opts["upsample"] = settings.hog_upsample
    emb_opts: dict[str, Any] = {}
    for ref, opts in ((settings.detector_model, det_opts), (settings.embedder_model, emb_opts)):
        if ref:
            opts["path" if Path(ref).expanduser().is_file() else "model"] = ref
    return EngineConfig(
        detector=settings.detector,
        detector_options=det_opts,
        embedder=settings.embedder,
        embedder_options=emb_opts,
        **{**engine_dirs(settings), **overrides},
    )


def engine_dirs(settings: Settings) -> dict[str, Path]:
    """The engine's folders, from the settings: the local model store and the model cache."""
    return {"models_dir": settings.models_dir, "cache_dir": settings.model_cache_dir}


def with_engine_dirs(cfg: EngineConfig, settings: Settings) -> EngineConfig:
    """``cfg`` with the folders it leaves unset filled from the settings."""
    update = {k: v for k, v in engine_dirs(settings).items() if getattr(cfg, k) is None}
    return cfg.model_copy(update=update) if update else cfg


class AppContext:
    def __init__(self, settings: Settings | None = None, engine_config: EngineConfig | None = None) -> None:
        self.settings = settings or load_settings()
        self._engine_config = with_engine_dirs(engine_config, self.settings) if engine_config else None

    @cached_property
    def db(self) -> Database:
        if self.settings.database_url is None and not (self.settings.data_dir / "openlfr.db").exists():
            raise ConfigError(
                f"no OpenLFR database in {self.settings.data_dir}; run `openlfr init` first", code="not_initialised"
            )
        db = Database(self.settings.db_url)
        db.upgrade()
        from openlfr.storage.audit_anchor import install_anchor

        install_anchor(db.engine, self.settings)  # head of the audit chain kept outside the DB (P6)
        return db

    @cached_property
    def cipher(self) -> Cipher:
        return load_cipher(self.settings)

    @cached_property
    def engine(self) -> FaceEngine:
        return FaceEngine.from_config(self._engine_config or engine_config_from_settings(self.settings))

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
