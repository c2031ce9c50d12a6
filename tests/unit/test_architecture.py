"""Static checks that guard the design: import direction (import-linter), lint (ruff) and types
(mypy --strict on src, as ARCHITECTURE.md asks)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    assert found, f"{name} is not installed (it is in the [test] extra)"
    return found


def test_import_layers() -> None:
    proc = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "BROKEN" not in proc.stdout


def test_ruff_clean() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "src", "tests", "benchmarks"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_mypy_strict_clean() -> None:
    # the configuration ([tool.mypy] in pyproject.toml: strict, the pydantic plugin) names the files
    proc = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Success: no issues found" in proc.stdout


def test_engine_never_imports_storage_at_runtime() -> None:
    code = ("import sys, openlfr.engine.pipeline, openlfr.engine.matcher, openlfr.engine.registry as r; "
            "r.available('embedder'); "
            "bad=[m for m in sys.modules if m.startswith(('openlfr.storage','openlfr.services','sqlalchemy'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
