"""Resuming a file camera after its actor died, without a cluster: the camera actor runs in this
process, the test plays the central process.

A crash is a cut in the actor's message stream: the central process received a prefix of what the
actor would have sent and nothing after it. The replacement gets only what that prefix told the
central process (the last quiet-point checkpoint and the counter watermark). Prefix + replacement
must give exactly the counters and alerts of an uninterrupted run, at every cut.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import pytest

from openlfr.engine.live import LiveConfig, index_in_memory
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.runtime.ray_actor import CameraActor, FrameCounts, Resume
from openlfr.runtime.workers import AlertMsg, CameraSpec, CountEvent, WorkerDone, WorkerInputs
from openlfr.services.operating_point import default_threshold

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

REPO = Path(__file__).resolve().parents[2]
FACES = REPO / "tests" / "data" / "faces"
COUNTED = ("frames_analysed", "faces_detected", "faces_seen", "quality_rejected", "alerts")


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    import av
    import cv2
    from tests.conftest import VIDEOS

    from openlfr.engine.imageio import load_image

    clip = VIDEOS / "short_hamilton_clip.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    engine = FaceEngine.from_config()
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 120:
                img = f.to_ndarray(format="rgb24")
                break
    faces = engine.analyse(img, embed="none").faces
    x1, y1, x2, y2 = faces.xyxy[int(faces.areas.argmax())]
    w = x2 - x1
    crop = img[max(0, int(y1 - 0.6 * w)) : int(y2 + 0.6 * w), max(0, int(x1 - 0.6 * w)) : int(x2 + 0.6 * w)]
    people = {"performer": [cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)]}
    people.update({p.name: [load_image(p / f"{p.name}_0001.jpg")] for p in sorted(FACES.iterdir())})
    index, rejected = index_in_memory(engine, people)
    assert not rejected
    return {"index": index, "threshold": default_threshold(engine.embedder)}


def run_actor(url: str, setup: dict[str, Any], resume: Resume | None) -> tuple[list[Any], CameraActor]:
    spec = CameraSpec(name="cam1", url=url, live=LiveConfig(analysis_fps=5.0))
    # On the GIF every frame shows someone to a detector that finds every face (the default): quiet points
    # (no live track, where a replacement may resume) exist only where one misses some, as HOG does.
    engine = (
        EngineConfig(detector="dlib-hog", detector_options={"upsample": 1, "min_face_px": 40})
        if url.endswith(".gif")
        else EngineConfig()
    )
    work = WorkerInputs(spec, engine, setup["threshold"], 3, 9, "replay:test")
    actor = CameraActor(work, setup["index"], resume)
    actor.start()
    msgs: list[Any] = []
    ack = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        batch = actor.poll(ack)
        for seq, m in batch:
            msgs.append(m)
            ack = seq
        if any(isinstance(m, WorkerDone) for m in msgs):
            return msgs, actor
        time.sleep(0.05)
    raise AssertionError("the camera did not finish")


def central(msgs: list[Any]) -> dict[str, Any]:
    """What the central process makes of a message stream (as RayRunner does)."""
    counters: collections.Counter[str] = collections.Counter()
    alerts: dict[str, Any] = {}
    cp = through = None
    for m in msgs:
        if isinstance(m, FrameCounts):
            counters.update(m.deltas)
            if m.through_t is not None:
                through = m.through_t if through is None else max(through, m.through_t)
            cp = m.checkpoint if m.checkpoint is not None else cp
        elif isinstance(m, CountEvent):
            counters.update({k: v for k, v in m.deltas.items() if k in COUNTED})
        elif isinstance(m, AlertMsg):
            alerts.setdefault(m.event.record.alert_id, m.event.record)
    return {
        "counters": {k: int(counters.get(k, 0)) for k in COUNTED},
        "alerts": alerts,
        "checkpoint": cp,
        "counted_through": through,
    }


@pytest.mark.parametrize("clip", ["short_hamilton_clip.mp4", "intel_face-demographics-walking-and-pause.gif"])
def test_replacement_continues_exactly_at_every_cut(clip: str, videos: Path, setup: dict[str, Any]) -> None:
    url = str(videos / clip)
    full, _ = run_actor(url, setup, None)
    ref = central(full)
    assert ref["counters"]["frames_analysed"] > 0
    if clip.startswith("short_hamilton"):
        assert {r.person_id for r in ref["alerts"].values()} == {"performer"}
    counts_at = [i for i, m in enumerate(full) if isinstance(m, FrameCounts) and m.through_t is not None]
    alert_at = [i for i, m in enumerate(full) if isinstance(m, AlertMsg)]
    cuts = {0, counts_at[len(counts_at) // 2], counts_at[-2]}
    for a in alert_at:  # just after an alert, before and after the watermark that covers it
        cuts.add(a + 1)
        cuts.add(next((i for i in counts_at if i > a), a) + 1)
    with_checkpoint = 0
    for cut in sorted(cuts):
        before = central(full[:cut])
        resume = Resume(before["checkpoint"], before["counted_through"])
        rest, actor = run_actor(url, setup, resume)
        after = central(full[:cut] + rest)
        assert after["counters"] == ref["counters"], (clip, cut, resume)
        assert set(after["alerts"]) == set(ref["alerts"]), (clip, cut)
        # frames the central process had counted are not reported again (alerts included)
        ct = before["counted_through"]
        assert all(ct is None or m.event.t > ct for m in rest if isinstance(m, AlertMsg)), (clip, cut)
        if resume.checkpoint is not None:
            with_checkpoint += 1
            assert actor._worker is not None and actor._worker.source.skipped > 0  # type: ignore[attr-defined]
    if clip.endswith(".gif"):
        assert with_checkpoint, "no cut resumed from a quiet point"
    # outside Ray the actor must not start a Ray instance in this process (a later ray.init failed)
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
