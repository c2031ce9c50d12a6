"""Process settings, read from the environment with the ``OPENLFR_`` prefix.

Deployment and camera configuration are separate pydantic models (``extra="forbid"``);
this holds only what a process needs to start.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openlfr.errors import ConfigError

_REFUSED_SECRETS = {"", "changeme", "change-me", "secret", "password", "openlfr", "default"}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "openlfr"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENLFR_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="Where the SQLite database, key file and caches live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/openlfr.db. "
                    "PostgreSQL: postgresql+psycopg://user:pass@host/db")
    key: SecretStr | None = Field(
        default=None,
        description="Encryption key for biometric data at rest (urlsafe base64, 32 bytes). "
                    "Overrides the key file; never stored in the database.")
    key_file: Path | None = Field(default=None,
                                  description="Key file path; default <data_dir>/keys/openlfr.key (0600).")
    detector: str = Field(default="mtcnn", description="Detector type from the backend registry. The default, "
                                                       "MTCNN (vendored .tflite files on LiteRT), gives boxes and 5 "
                                                       "landmarks and finds far more turned and small faces than "
                                                       "dlib-hog (docs/models.md, MTCNN section).")
    embedder: str = Field(default="dlib-resnet-onnx",
                          description="Embedder type from the backend registry. The default runs dlib's ResNet "
                                      "descriptor through onnxruntime (same vectors as dlib-resnet, ~10-20x "
                                      "faster).")
    hog_upsample: int = Field(default=1, ge=0, le=3, description="HOG detector upsampling steps.")
    detector_model: str | None = Field(
        default=None, description="Detector model file (path) or model-store name (ONNX detectors); "
                                  "default: the backend's own default name.")
    embedder_model: str | None = Field(
        default=None, description="Embedder model file (path) or model-store name (onnx-arcface needs one).")
    min_face_px: int = Field(default=40, ge=8, le=2000, description="Smallest face box side kept (px).")
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024,
                                  description="Largest accepted image file.")
    max_image_pixels: int = Field(default=40_000_000, ge=10_000,
                                  description="Larger images are refused as possible decompression bombs.")
    actor: str = Field(default_factory=lambda: os.environ.get("USER", "cli"),
                       description="Who the CLI acts as, for the audit log.")
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster address (the head's host:port). When set, each live camera runs as a Ray "
                    "actor on the cluster (needs the 'scale' extra); unset: cameras run on this machine.")
    ray_cpus_per_camera: float = Field(default=1.0, ge=0.0, le=256.0,
                                       description="CPUs each camera actor reserves on the Ray cluster.")
    ray_resources: dict[str, float] = Field(
        default_factory=dict, description='Custom Ray resources every camera actor needs, as JSON, e.g. '
                                          '{"openlfr_analysis": 1} to keep cameras on analysis nodes.')

    @field_validator("key")
    @classmethod
    def _refuse_default_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and v.get_secret_value().strip().lower() in _REFUSED_SECRETS:
            raise ValueError("OPENLFR_KEY is a placeholder; generate one with `openlfr init`")
        return v

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'openlfr.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or (self.data_dir / "keys" / "openlfr.key")

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[0] + ": " + str(exc).splitlines()[-1].strip()) from exc
