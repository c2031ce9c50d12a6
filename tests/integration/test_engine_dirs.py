"""The engine picks no folder itself: the model store and the model cache are passed in
(``EngineConfig.models_dir`` / ``cache_dir``), filled from the settings at the edge (services)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from openlfr.engine import registry
from openlfr.engine.imageio import decode_image, read_bytes
from openlfr.engine.pipeline import EngineConfig, FaceEngine

FACE = Path(__file__).resolve().parents[1] / "data" / "faces" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


def test_backends_declare_their_folders() -> None:
    assert registry.directories("detector", "frdetect") == ("cache_dir",)
    assert registry.directories("embedder", "dlib-resnet-onnx") == ("cache_dir",)
    assert registry.directories("embedder", "fused") == ("cache_dir",)
    for kind, name in (("detector", "yunet"), ("detector", "scrfd"), ("embedder", "onnx-arcface")):
        assert registry.directories(kind, name) == ("models_dir",)  # type: ignore[arg-type]
    assert registry.directories("embedder", "frfeature-512") == ()
    cfg = EngineConfig(cache_dir=Path("/a"), models_dir=Path("/m"))
    assert cfg.options_for("detector", "frdetect", {"threads": 1}) == {"cache_dir": Path("/a"), "threads": 1}
    assert cfg.options_for("detector", "frdetect", {"cache_dir": "/b"}) == {"cache_dir": "/b"}  # explicit wins
    assert cfg.options_for("embedder", "frfeature-512", {}) == {}


def test_default_engine_without_folders_writes_nothing(data_dir: Path, tmp_path: Path) -> None:
    # a benchmark's FaceEngine.from_config(EngineConfig()): vendored models, rewrites kept in memory
    image = decode_image(read_bytes(FACE))
    plain = FaceEngine.from_config(EngineConfig())
    faces = plain.analyse(image).faces
    assert len(faces) == 1 and faces.embedding is not None
    assert not data_dir.exists()
    cached = FaceEngine.from_config(EngineConfig(cache_dir=tmp_path / "cache"))
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".json", ".json", ".onnx", ".onnx"]
    again = cached.analyse(image).faces
    assert np.array_equal(faces.xyxy, again.xyxy) and np.array_equal(faces.embedding, again.embedding)


def test_services_fill_the_folders_from_the_settings(data_dir: Path) -> None:
    from openlfr.services.context import AppContext
    from openlfr.settings import load_settings

    ctx = AppContext(load_settings(), engine_config=EngineConfig())
    cfg = ctx._engine_config
    assert cfg is not None
    assert cfg.models_dir == data_dir / "models" and cfg.cache_dir == data_dir / "cache" / "models"
    ctx.engine.analyse(decode_image(read_bytes(FACE)))
    assert any(p.name.startswith("fr_detect.") for p in (data_dir / "cache" / "models").iterdir())


def test_building_an_engine_reads_no_settings() -> None:
    code = (
        "import sys\n"
        "from openlfr.engine.pipeline import EngineConfig, FaceEngine\n"
        "import openlfr.engine.models, openlfr.engine.backends.onnx_backend\n"
        "FaceEngine.from_config(EngineConfig())\n"
        "print('openlfr.settings' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "False", out.stdout
