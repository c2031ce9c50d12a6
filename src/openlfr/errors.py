"""One error family for the whole project.

Every error carries a stable machine-readable ``code``; the API renders it once as
``{"error": {"code", "message"}}`` and the CLI prints one line and exits non-zero.
"""

from __future__ import annotations


class OpenLFRError(Exception):
    """Base class. ``code`` is stable and documented; ``message`` is for people."""

    code: str = "error"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InputError(OpenLFRError):
    """Bad input from a user: unreadable image, malformed payload, no face where one is needed."""

    code = "input_error"
    http_status = 422


class SourceError(OpenLFRError):
    """A frame source (file, RTSP, HTTP, webcam) could not be opened or failed."""

    code = "source_error"
    http_status = 502


class ModelError(OpenLFRError):
    """A model file is missing, corrupt, of the wrong shape, or failed to load."""

    code = "model_error"
    http_status = 500


class ConfigError(OpenLFRError):
    """Invalid configuration or settings."""

    code = "config_error"
    http_status = 500


class NotFoundError(OpenLFRError):
    code = "not_found"
    http_status = 404


class ConflictError(OpenLFRError):
    code = "conflict"
    http_status = 409


class AuthError(OpenLFRError):
    code = "auth_error"
    http_status = 401
