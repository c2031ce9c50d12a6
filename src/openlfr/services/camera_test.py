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
from typing import Any

from openlfr.engine.sources import mask_url, open_source
from openlfr.errors import ConflictError, OpenLFRError
from openlfr.services.context import AppContext
from openlfr.services.deployments import get_deployment
from openlfr.storage import audit
from openlfr.storage.sealed import unseal

DEFAULT_TIMEOUT_S = 5.0
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
        return {"ok": True, "width": width, "height": height, "fps": round(fps, 2) if fps else None,
                "detail": ""}
    except OpenLFRError as exc:
        return {"ok": False, "code": exc.code, "detail": mask_url(exc.message)}
    except Exception as exc:  # a decoder's own error: a failed test, not a server error
        return {"ok": False, "code": "source_failed", "detail": mask_url(f"{type(exc).__name__}: {exc}")}
    finally:
        if src is not None:
            src.close()


def _one(name: str, url: str, display: str, timeout: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.monotonic()

    def run() -> None:
        out.update(_try(url, timeout))

    th = threading.Thread(target=run, name=f"camera-test-{name}", daemon=True)
    th.start()
    th.join(2 * timeout + 1.0)  # open and first frame, each within ``timeout``
    if th.is_alive() or not out:
        out = {"ok": False, "code": "source_timeout", "detail": f"no frame within {2 * timeout + 1.0:.0f} s"}
    base = {"camera": name, "source": display, "ok": False, "width": None, "height": None, "fps": None,
            "code": None, "seconds": round(time.monotonic() - t0, 2)}
    return {**base, **out}


def check_cameras(ctx: AppContext, ref: int | str, actor: str, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Test every camera of deployment ``ref`` (all at once); refused once the deployment has ended."""
    with ctx.db.session() as s:
        dep = get_deployment(s, ref)
        if dep.state == "ended":
            raise ConflictError(f"deployment {dep.id} has ended; its cameras are not tested", code="deployment_ended")
        dep_id = int(dep.id)
        cams = [(c.name, unseal(ctx.cipher, c).decode(), mask_url(c.url_display)) for c in dep.cameras]
    results: list[dict[str, Any]] = [{} for _ in cams]

    def run(i: int) -> None:
        results[i] = _one(*cams[i], timeout)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(cams))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with ctx.db.session() as s:
        audit.record(s, actor, "deployment.cameras_tested", "deployment", dep_id,
                     {"cameras": [{k: r[k] for k in ("camera", "ok", "width", "height", "fps", "code")}
                                  for r in results]})
    return {"deployment_id": dep_id, "ok": all(r["ok"] for r in results), "cameras": results}
