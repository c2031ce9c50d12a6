"""Shared fixtures: the shared data folder, an isolated data dir per test, the CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
LFW_DEV = SHARED / "data" / "lfw-dev"
VIDEOS = SHARED / "data" / "videos"
MODELS = SHARED / "models"


@pytest.fixture
def lfw_dev() -> Path:
    if not (LFW_DEV / "pairs.txt").is_file():
        pytest.skip(f"shared data not found at {LFW_DEV} (set OPENLFR_SHARED_DIR)")
    return LFW_DEV


@pytest.fixture
def shared_models() -> Path:
    if not MODELS.is_dir():
        pytest.skip(f"shared models not found at {MODELS}")
    return MODELS


@pytest.fixture
def videos() -> Path:
    if not VIDEOS.is_dir():
        pytest.skip(f"shared videos not found at {VIDEOS}")
    return VIDEOS


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated OPENLFR_DATA_DIR for this test (env set for in-process and subprocess use)."""
    d = tmp_path / "openlfr-data"
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(d))
    monkeypatch.delenv("OPENLFR_DATABASE_URL", raising=False)
    monkeypatch.delenv("OPENLFR_KEY", raising=False)
    return d


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 600, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``openlfr`` command in a subprocess (as a user would)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "openlfr", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=input,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"openlfr {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return run_cli


def wait_healthy(
    url: str, proc: subprocess.Popen[Any], timeout_s: float, output: Callable[[], str] | None = None
) -> None:
    """Wait until ``openlfr serve`` at ``url`` answers ``/health`` with 200; fail (with its output) if the process
    ends or ``timeout_s`` passes first."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("openlfr serve did not start" + (":\n" + output() if output else ""))
        time.sleep(0.3)


def stop_serve(proc: subprocess.Popen[Any], timeout_s: float = 60.0) -> bool:
    """SIGTERM ``openlfr serve`` and wait; kill it if it has not stopped within ``timeout_s``. True if it stopped."""
    import signal

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
