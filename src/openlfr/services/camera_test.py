"""A camera test before going live (issue 19, item 10): open each of a deployment's cameras, read one
frame within a short timeout, and report per camera whether it works, with the frame's size and the
stream's frame rate when it states one.

Privacy (P2): the frame read is kept in memory only long enough to take its size, then dropped; it is
never written anywhere, and nothing about it is logged. The test is audited
(``deployment.cameras_tested``): camera names, outcome, size and rate, the error *code* when one
failed (no URL, no error text: those can tell what is at a local path or whether a port is open, and
reach admins only, in the response: ``api.live.for_role``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from openlfr.engine.sources import mask_url, open_source
from openlfr.errors import ConflictError, OpenLFRError
from openlfr.services.context import AppContext
from openlfr.services.deployments import get_deployment
from openlfr.storage import audit
from openlfr.storage.repos.deployments import DeploymentRepo

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CameraTest:
    """One camera's test: whether it gave a frame, the frame's size and the stated fps, or why not."""

    camera: str
    source: str
    """The camera's URL, masked (no credentials, no query string)."""
    ok: bool
    width: int | None
    height: int | None
    fps: float | None
    code: str | None
    """The error code when not ok."""
    seconds: float
    detail: str


@dataclass(frozen=True)
class CameraTestResult:
    deployment_id: int
    ok: bool
    """Every camera gave a frame."""
    cameras: list[CameraTest]


"""Seconds to open a camera and to wait for its first frame (each)."""


def _try(url: str, timeout: float) -> dict[str, Any]:
    """Open ``url``, read one frame, close; the frame's size, the stated fps, or why not."""
    src = None
    try:
        src = open_source(url, open_timeout=timeout, read_timeout=timeout)
        frame = src.read()
        if frame is None:
            return {"ok": False, "code": "source_empty", "detail": "the source ended before its first frame"}
        width, height = frame.size
        del frame  # P2: only the size is kept
        fps = getattr(src, "fps", None)
        return {"ok": True, "width": width, "height": height, "fps": round(fps, 2) if fps else None, "detail": ""}
    except OpenLFRError as exc:
        return {"ok": False, "code": exc.code, "detail": mask_url(exc.message)}
    except Exception as exc:  # a decoder's own error: a failed test, not a server error
        return {"ok": False, "code": "source_failed", "detail": mask_url(f"{type(exc).__name__}: {exc}")}
    finally:
        if src is not None:
            src.close()


def _one(name: str, url: str, display: str, timeout: float) -> CameraTest:
    out: dict[str, Any] = {}
    t0 = time.monotonic()

    def run() -> None:
        out.update(_try(url, timeout))

    th = threading.Thread(target=run, name=f"camera-test-{name}", daemon=True)
    th.start()
    th.join(2 * timeout + 1.0)  # open and first frame, each within ``timeout``
    if th.is_alive() or not out:
        out = {"ok": False, "code": "source_timeout", "detail": f"no frame within {2 * timeout + 1.0:.0f} s"}
    base: dict[str, Any] = {
        "camera": name,
        "source": display,
        "ok": False,
        "width": None,
        "height": None,
        "fps": None,
        "code": None,
        "seconds": round(time.monotonic() - t0, 2),
    }
    return CameraTest(**{**base, **out})


def check_cameras(ctx: AppContext, ref: int | str, actor: str, timeout: float = DEFAULT_TIMEOUT_S) -> CameraTestResult:
    """Test every camera of deployment ``ref`` (all at once); refused once the deployment has ended."""
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        if dep.state == "ended":
            raise ConflictError(f"deployment {dep.id} has ended; its cameras are not tested", code="deployment_ended")
        dep_id = int(dep.id)
        repo = DeploymentRepo(s, ctx.cipher)
        cams = [(c.name, repo.camera_url(c), mask_url(c.url_display)) for c in dep.cameras]
    results: list[CameraTest | None] = [None for _ in cams]

    def run(i: int) -> None:
        results[i] = _one(*cams[i], timeout)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(cams))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    tested = [r for r in results if r is not None]  # every thread set its camera's result
    with ctx.db.session() as s:
        audit.record(
            s,
            actor,
            "deployment.cameras_tested",
            "deployment",
            dep_id,
            {
                "cameras": [
                    {"camera": r.camera, "ok": r.ok, "width": r.width, "height": r.height, "fps": r.fps, "code": r.code}
                    for r in tested
                ]
            },
        )
    return CameraTestResult(deployment_id=dep_id, ok=all(r.ok for r in tested), cameras=tested)
