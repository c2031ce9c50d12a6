"""A real ``openlfr serve`` in a subprocess for integration tests: isolated data dir, users made with
``openlfr user create``, a free loopback port, stopped by a signal; stdout and stderr kept apart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROLES = ("admin", "supervisor", "operator", "auditor")


def password(role: str) -> str:
    return f"serve-{role}-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(data: Path, media_root: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "OPENLFR_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    if media_root is not None:
        env["OPENLFR_CAMERA_MEDIA_ROOT"] = str(media_root)
    for k in ("OPENLFR_KEY", "OPENLFR_DATABASE_URL"):
        env.pop(k, None)
    return env


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]
    out: Path
    err: Path

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> tuple[int, str, str]:
        """Send ``sig``, wait for the exit; (exit code, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"openlfr serve did not stop within {timeout} s of {sig!r}") from None
        return self.proc.returncode, self.out.read_text(errors="replace"), self.err.read_text(errors="replace")


def start_serve(root: Path, env: dict[str, str], users: bool = True, argv: list[str] | None = None) -> Served:
    """``openlfr serve`` (``argv``: the command as run, default ``openlfr serve --port P``), ready on /health."""
    import httpx

    if users:
        subprocess.run([sys.executable, "-m", "openlfr", "init"], env=env, check=True, capture_output=True, timeout=120)
        for role in ROLES:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "openlfr",
                    "user",
                    "create",
                    "--username",
                    role,
                    "--role",
                    role,
                    "--password-stdin",
                ],
                input=password(role) + "\n",
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            )
    port = int(env.get("OPENLFR_PORT") or free_port())
    cmd = argv or [sys.executable, "-m", "openlfr", "serve", "--port", str(port)]
    out, err = root / "serve.out", root / "serve.err"
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, text=True)
    url = f"http://127.0.0.1:{port}"
    srv = Served(url, proc, out, err)
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return srv
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            code, o, e = srv.stop(signal.SIGTERM)
            raise AssertionError(f"openlfr serve did not start ({code}):\n{o}\n{e}")
        time.sleep(0.3)


class Api:
    """A logged-in session over HTTP (cookie + CSRF header), as the console's JS speaks."""

    def __init__(self, url: str, role: str) -> None:
        import httpx

        self.c = httpx.Client(base_url=url, timeout=120)
        r = self.c.post("/api/auth/login", json={"username": role, "password": password(role)})
        assert r.status_code == 200, r.text
        self.c.headers["X-CSRF-Token"] = r.json()["csrf_token"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.c, name)


def draft_deployment(api: Api, watchlist: str, cameras: list[dict[str, str]], name: str = "serve test") -> int:
    now = datetime.now(UTC)
    r = api.post(
        "/api/deployments",
        json={
            "name": name,
            "location": "High St, Sutton, outside the station",
            "purpose": "Locate people wanted (test)",
            "legal_basis": "Common law policing powers; DPA 2018 s.35",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat(),
            "source_watchlist": watchlist,
            "all_entries_reason": "wanted on warrant",
            "cameras": cameras,
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])
