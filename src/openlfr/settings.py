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

    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where the SQLite database, key file and caches live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/openlfr.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    key: SecretStr | None = Field(
        default=None,
        description="Encryption key for biometric data at rest (urlsafe base64, 32 bytes). "
        "Overrides the key file; never stored in the database.",
    )
    key_file: Path | None = Field(
        default=None, description="Key file path; default <data_dir>/keys/openlfr.key (0600)."
    )
    detector: str = Field(
        default="frdetect",
        description="Detector type from the backend registry. The default, "
        "fr_detect + fr_landmark (shipped in the package, on "
        "onnxruntime), gives the 5 landmarks the ArcFace chip "
        "needs; mtcnn and dlib-hog (the default until issue 17) "
        "stay selectable.",
    )
    embedder: str = Field(
        default="frfeature-512",
        description="Embedder type from the backend registry. The default is fr_feature, 512-d, "
        "on onnxruntime (shipped in the package); fused-arcface adds MobileFaceNet-192 "
        "on the same chip, fused (dlib ResNet + MobileFaceNet-192) is the old "
        "default.",
    )
    hog_upsample: int = Field(default=1, ge=0, le=3, description="HOG detector upsampling steps.")
    detector_model: str | None = Field(
        default=None,
        description="Detector model file (path) or model-store name (ONNX detectors); "
        "default: the backend's own default name.",
    )
    embedder_model: str | None = Field(
        default=None, description="Embedder model file (path) or model-store name (onnx-arcface needs one)."
    )
    max_photo_side: int = Field(
        default=2048,
        ge=256,
        le=16384,
        description="A photo (check, enrolment, retrospective images) is analysed with its long side at most this "
        "(px; a JPEG is decoded at reduced scale): bounds the time and memory one upload can cost.",
    )
    min_face_px: int = Field(default=40, ge=8, le=2000, description="Smallest face box side kept (px).")
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Largest accepted image file.")
    max_image_pixels: int = Field(
        default=40_000_000, ge=10_000, description="Larger images are refused as possible decompression bombs."
    )
    actor: str = Field(
        default_factory=lambda: os.environ.get("USER", "cli"), description="Who the CLI acts as, for the audit log."
    )
    token_days: float = Field(
        default=90.0,
        gt=0,
        le=3650,
        description="API tokens expire after at most this many days (also the default lifetime of a new token).",
    )
    default_target_fpir: float = Field(
        default=1e-4,
        gt=0.0,
        lt=1.0,
        description="Target false-positive identification rate per face seen when no threshold is given; "
        "the threshold comes from the embedder's calibration at the watchlist's size.",
    )
    safe_fpir_min: float = Field(
        default=1e-5,
        gt=0.0,
        lt=1.0,
        description="Safe band, low end: an operating point whose FPIR is below this (the threshold so "
        "strict it misses most people) needs a written justification to be authorised.",
    )
    safe_fpir_max: float = Field(
        default=1e-3,
        gt=0.0,
        lt=1.0,
        description="Safe band, high end (1e-3 = 10 expected false alerts per 10,000 faces): above it, "
        "authorisation needs a written justification.",
    )
    min_justification_chars: int = Field(
        default=50,
        ge=1,
        le=4000,
        description="Shortest written justification accepted for an operating point outside the safe band.",
    )
    allow_self_authorisation: bool = Field(
        default=False,
        description="One-person installations only: let the user who created or last edited a deployment "
        "authorise it. Off by default (separation of duties); when on, such an authorisation is "
        "audited as a self-authorisation and shown on the deployment.",
    )
    max_deployment_hours: float = Field(
        default=24.0,
        gt=0.0,
        le=24.0 * 366,
        description="Longest planned window a deployment may be created with (hours).",
    )
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster address (the head's host:port). When set, each live camera runs as a Ray "
        "actor on the cluster (needs the 'scale' extra); unset: cameras run on this machine.",
    )
    ray_init_timeout_s: float = Field(
        default=30.0,
        gt=0.0,
        le=3600.0,
        description="How long connecting to the Ray cluster (``ray.init``) may take "
        "after the head accepted the TCP connection; then the run fails "
        "with ray_unreachable (SIGTERM ends the wait at once).",
    )
    ray_cpus_per_camera: float = Field(
        default=1.0, ge=0.0, le=256.0, description="CPUs each camera actor reserves on the Ray cluster."
    )
    ray_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources every camera actor needs, as JSON, e.g. "
        '{"openlfr_analysis": 1} to keep cameras on analysis nodes.',
    )
    camera_media_root: Path | None = Field(
        default=None,
        description="Folder that deployment cameras given as local files must be inside (symlinks resolved). "
        "Unset: the console/API accepts no local file as a camera (only rtsp, rtsps, http, https); "
        "the CLI accepts any local file.",
    )
    runner_lease_s: float = Field(
        default=30.0,
        ge=2.0,
        le=3600.0,
        description="A runner's lease on a live deployment (seconds, renewed every third of it): a second runner "
        "is refused while it holds; a killed runner's lease lapses after this (at once on the same host).",
    )

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

    @property
    def models_dir(self) -> Path:
        """The local model store (ONNX models added or fetched by the user)."""
        return self.data_dir / "models"

    @property
    def model_cache_dir(self) -> Path:
        """Where the engine caches rewritten model graphs (converted dlib ResNet, frdetect rewrites)."""
        return self.cache_dir / "models"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[0] + ": " + str(exc).splitlines()[-1].strip()) from exc
