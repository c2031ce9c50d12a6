"""Settings of the HTTP server and console (``OPENLFR_API_*``), beside the process settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from openlfr.errors import ConfigError


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENLFR_API_", extra="ignore")

    secure_cookies: bool | None = Field(
        default=None,
        description="Force the Secure flag on cookies; default: set when the request came over "
        "HTTPS (directly or through a proxy sending X-Forwarded-Proto).",
    )
    max_request_bytes: int = Field(
        default=42 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest request body; larger ones are refused (413) before "
        "being read. Each image is also held to OPENLFR_MAX_UPLOAD_BYTES.",
    )
    max_files_per_request: int = Field(default=20, ge=1, le=200, description="Images in one upload.")
    login_failures_per_client: int = Field(
        default=20, ge=1, description="Failed logins from one client address per window."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto "
        "headers are believed (e.g. 127.0.0.1 when a TLS proxy on this host forwards to "
        "`openlfr serve`). Empty (default): the headers are ignored, so a client cannot "
        "pick its own address for the login throttle; secure cookies then need "
        "OPENLFR_API_SECURE_COOKIES=true behind a proxy.",
    )
    login_window_s: float = Field(default=600.0, gt=0, description="Window of the per-client login limit.")
    retention_sweep_minutes: float = Field(
        default=15.0, gt=0, le=1440, description="How often `openlfr serve` runs the retention sweeper."
    )
    eval_dir: Path | None = Field(
        default=None,
        description="Where the evaluation page looks for the newest DET plot (*det*.png); default <data_dir>/eval.",
    )
    published_csv: Path | None = Field(
        default=None, description="A force's published deployment records (CSV) for the comparison page."
    )
    media_dir: Path | None = Field(
        default=None,
        description="Folder of recorded videos and image folders that "
        "the console's retrospective search may pick from "
        "(names directly inside it only).",
    )
    live_realtime: bool = Field(default=True, description="Pace file sources at their frame rate, as a camera.")
    live_loop_files: bool = Field(default=False, description="Restart file sources at their end.")
    live_mode: str = Field(
        default="process",
        pattern="^(auto|thread|process)$",
        description="Camera workers in child processes (default) or threads.",
    )
    request_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Under `openlfr serve`, the niceness of the threads that handle requests "
        "(Linux): camera processes keep the server's own priority, so API load "
        "does not slow analysis. 0: no change.",
    )


def load_api_settings(**overrides: object) -> ApiSettings:
    try:
        return ApiSettings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"API settings: {str(exc).splitlines()[-1].strip()}", code="bad_api_settings") from exc
