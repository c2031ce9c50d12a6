"""End-to-end fixtures: a real ``openlfr serve`` on a free loopback port (isolated data dir, users
made with ``openlfr user create``) and Debian's Chromium driven by Playwright.

Chromium: /usr/bin/chromium (``apt-get install chromium``), or ``OPENLFR_CHROMIUM``. Playwright's
own browser download is never used. Tests skip with the reason when either is missing.
Screenshots go to a temp dir, or to ``OPENLFR_SCREENSHOTS`` (e.g. docs/img) when set.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import VIDEOS, stop_serve, wait_healthy

CHROMIUM = os.environ.get("OPENLFR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROLES = ("admin", "supervisor", "operator", "auditor")


def password(role: str) -> str:
    return f"e2e-{role}-password"


@dataclass
class Server:
    url: str
    data_dir: Path
    proc: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:

    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    # cameras added in the console must be rtsp/http(s) or files inside the camera media root
    env = {
        **os.environ,
        "OPENLFR_DATA_DIR": str(data),
        "PYTHONUNBUFFERED": "1",
        "OPENLFR_CAMERA_MEDIA_ROOT": str(VIDEOS),
    }
    for k in ("OPENLFR_KEY", "OPENLFR_DATABASE_URL"):
        env.pop(k, None)
    subprocess.run([sys.executable, "-m", "openlfr", "init"], env=env, check=True, capture_output=True, timeout=120)
    for role in ROLES:
        subprocess.run(
            [sys.executable, "-m", "openlfr", "user", "create", "--username", role, "--role", role, "--password-stdin"],
            input=password(role) + "\n",
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    port = _free_port()
    log = root / "serve.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openlfr", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    srv = Server(url, data, proc, log)
    wait_healthy(url, proc, 60, srv.output)
    yield srv
    if proc.poll() is None and not stop_serve(proc):
        raise AssertionError("openlfr serve did not stop within 60 s of SIGTERM")


BROWSER_ERRORS: list[str] = []
"""Console errors, uncaught page errors and failed requests of every page any e2e test opens."""


def _console(page: Any, m: Any) -> None:
    if m.type != "error":
        return
    where = (m.location or {}).get("url", "")
    if m.text.startswith("Failed to load resource") and where.split("#")[0] == page.url.split("#")[0]:
        return  # the page itself is an error page (a 403/404 the test navigated to on purpose): tested as such
    BROWSER_ERRORS.append(f"console error on {page.url}: {m.text} ({where})")


def _watch_page(page: Any) -> None:
    page.on("console", lambda m: _console(page, m))
    page.on("pageerror", lambda e: BROWSER_ERRORS.append(f"page error on {page.url}: {e}"))
    # a request the page itself dropped by navigating away (an event stream, a live MJPEG tile) is not a failure
    page.on(
        "requestfailed",
        lambda r: (
            None
            if "ERR_ABORTED" in str(r.failure)
            else BROWSER_ERRORS.append(f"request failed on {page.url}: {r.method} {r.url}: {r.failure}")
        ),
    )


class _WatchedBrowser:
    """The browser, with every page of every context watched for errors (see ``no_browser_errors``)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def new_context(self, **kw: Any) -> Any:
        ctx = self._inner.new_context(**kw)
        ctx.on("page", _watch_page)
        return ctx

    def new_page(self, **kw: Any) -> Any:
        page = self._inner.new_page(**kw)
        _watch_page(page)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield _WatchedBrowser(b)
        b.close()


_ALLOWED: list[str] = []


@pytest.fixture
def allow_browser_errors() -> Callable[[str], None]:
    """``allow("status of 422")``: in this test, console errors containing the text are expected (an API error the
    test provokes on purpose, e.g. a corrupt upload, which the page must show as a message)."""
    return _ALLOWED.append


@pytest.fixture(autouse=True)
def no_browser_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Issue 19: no browser console error, page error or failed request on any page of any e2e test. Navigating to
    an error page on purpose is not one; an API error a test provokes is allowed with ``allow_browser_errors``."""
    start = len(BROWSER_ERRORS)
    _ALLOWED.clear()
    yield
    found = [e for e in BROWSER_ERRORS[start:] if not any(a in e for a in _ALLOWED)]
    _ALLOWED.clear()
    assert not found, "browser errors:\n" + "\n".join(found[:20])


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = (
        Path(os.environ["OPENLFR_SCREENSHOTS"])
        if os.environ.get("OPENLFR_SCREENSHOTS")
        else tmp_path_factory.mktemp("screenshots")
    )
    d.mkdir(parents=True, exist_ok=True)
    return d


def login(browser: Any, server: Server, role: str) -> tuple[Any, Any]:
    # bypass_csp: Playwright evaluates its wait conditions as strings, which the console's CSP forbids
    ctx = browser.new_context(viewport={"width": 1360, "height": 860}, bypass_csp=True)
    page = ctx.new_page()
    page.goto(server.url + "/login")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", password(role))
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    return ctx, page


def frames_of(path: Path, indices: tuple[int, ...]) -> list[bytes]:
    """JPEG bytes of the frames at ``indices`` of a video (for uploads in the console tests)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while len(out) < len(indices):
        ok, frame = cap.read()
        if not ok:
            break
        if i in indices:
            ok, buf = cv2.imencode(".jpg", frame)
            out.append(buf.tobytes())
        i += 1
    cap.release()
    return out


def shot(page: Any, shots: Path, name: str) -> None:
    """A full-page screenshot after the page settles (docs/img when OPENLFR_SCREENSHOTS is set)."""
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


class Api:
    """A logged-in console session spoken to over HTTP (cookie + CSRF header), as the console's JS does."""

    def __init__(self, server: Server, role: str) -> None:
        import httpx

        self.c = httpx.Client(base_url=server.url, timeout=120)
        r = self.c.post("/api/auth/login", json={"username": role, "password": password(role)})
        assert r.status_code == 200, r.text
        self.c.headers["X-CSRF-Token"] = r.json()["csrf_token"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.c, name)
