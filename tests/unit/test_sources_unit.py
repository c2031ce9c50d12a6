"""Source specs, credential masking, drop-oldest queues and back-off (no decoding)."""

from __future__ import annotations

import random
import threading
import time

import pytest

from openlfr.engine.sources import WebcamSource, mask_url, open_source
from openlfr.errors import SourceError
from openlfr.runtime.queues import DropOldestQueue
from openlfr.runtime.workers import Backoff, CameraSpec


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:hunter2@10.1.2.3:554/stream1", "rtsp://***@10.1.2.3:554/stream1"),
        ("http://user:p%40ss@cam.local/video.mjpg", "http://***@cam.local/video.mjpg"),
        ("rtsp://token@host/x", "rtsp://***@host/x"),
        ("rtsp://host/x", "rtsp://host/x"),
        ("/videos/a.mp4", "/videos/a.mp4"),
        ("failed to open rtsp://admin:hunter2@h/x: refused", "failed to open rtsp://***@h/x: refused"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_camera_spec_repr_masks_credentials() -> None:
    spec = CameraSpec(name="gate", url="rtsp://admin:hunter2@10.1.2.3/s")
    assert "hunter2" not in repr(spec) and "hunter2" not in str(spec)


def test_open_source_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceError) as e:
        open_source(str(tmp_path / "missing.mp4"))
    assert e.value.code == "source_not_found"
    with pytest.raises(SourceError) as e:
        open_source(str(tmp_path))
    assert e.value.code == "source_is_folder"
    with pytest.raises(SourceError) as e:
        open_source("ftp://user:pw@host/x.mp4")
    assert e.value.code == "source_unsupported" and "pw" not in e.value.message
    assert isinstance(open_source("0"), WebcamSource)
    assert isinstance(open_source("webcam:2"), WebcamSource)
    rtsp = open_source("rtsp://a:b@127.0.0.1:9/x")
    assert rtsp.live and rtsp.name == "rtsp://***@127.0.0.1:9/x"


def test_unreachable_rtsp_fails_with_masked_message() -> None:
    src = open_source("rtsp://admin:hunter2@127.0.0.1:9/x", open_timeout=2, read_timeout=2)
    with pytest.raises(SourceError) as e:
        src.read()
    assert e.value.code == "source_open_failed" and "hunter2" not in str(e.value)


def test_drop_oldest_queue_drops_and_counts() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(3)
    for i in range(10):
        assert q.put(i)
    assert len(q) == 3 and q.drops == 7 and q.take_drops() == 7 and q.take_drops() == 0
    assert [q.get(0), q.get(0), q.get(0)] == [7, 8, 9]
    assert q.get(timeout=0.01) is None


def test_blocking_put_waits_for_room_and_close_wakes() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(1)
    q.put(1)
    got: list[int | None] = []

    def consumer() -> None:
        time.sleep(0.1)
        got.append(q.get(1))

    th = threading.Thread(target=consumer)
    th.start()
    t0 = time.monotonic()
    assert q.put(2, block=True, timeout=2)
    assert time.monotonic() - t0 >= 0.05 and q.drops == 0
    th.join()
    assert got == [1]
    q.close()
    assert not q.put(3)
    assert q.get(1) == 2 and q.get(1) is None


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(base_s=0.5, max_s=4.0, rng=random.Random(1))
    delays = [b.next() for _ in range(6)]
    nominal = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    for d, n in zip(delays, nominal, strict=True):
        assert 0.5 * n <= d <= 1.5 * n
    assert len({round(d, 6) for d in delays}) == 6  # jittered
    b.reset()
    assert 0.25 <= b.next() <= 0.75
