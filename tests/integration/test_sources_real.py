"""Real decoding: every shared clip, file looping, an HTTP-served file and an HTTP MJPEG stream."""

from __future__ import annotations

import functools
import io
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest
from PIL import Image

from openlfr.engine.sources import open_source, probe

pytestmark = pytest.mark.shared_data

CLIPS = {
    "intel_asl_thanks.mkv": 51,
    "intel_face-demographics-walking.gif": 35,
    "intel_face-demographics-walking-and-pause.gif": 41,
    "intel_head-pose-face-detection-female.gif": 23,
    "intel_head-pose-face-detection-male.gif": 62,
    "intel_head-pose-face-detection-female-and-male.gif": 56,
    "short_hamilton_clip.mp4": 275,
}


def _read_all(src):  # type: ignore[no-untyped-def]
    out = []
    while (f := src.read()) is not None:
        out.append(f)
    src.close()
    return out


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_every_clip_decodes_with_timestamps(videos: Path, name: str) -> None:
    frames = _read_all(open_source(str(videos / name)))
    assert len(frames) == CLIPS[name]
    ts = [f.t for f in frames]
    assert ts[0] == 0.0 and all(b > a for a, b in itertools.pairwise(ts))
    assert frames[0].image.ndim == 3 and frames[0].image.shape[2] == 3
    assert [f.index for f in frames] == list(range(len(frames)))


def test_loop_keeps_time_increasing(videos: Path) -> None:
    src = open_source(str(videos / "intel_head-pose-face-detection-female.gif"), loop=True)
    ts = [src.read().t for _ in range(60)]  # type: ignore[union-attr]
    src.close()
    assert all(b > a for a, b in itertools.pairwise(ts))
    assert ts[-1] > 4.0


def test_realtime_paces_a_file(videos: Path) -> None:
    src = open_source(str(videos / "intel_asl_thanks.mkv"), realtime=True)
    t0 = time.monotonic()
    frames = [src.read() for _ in range(16)]
    src.close()
    assert frames[-1].t == pytest.approx(0.5, abs=0.02)  # type: ignore[union-attr]
    assert time.monotonic() - t0 >= 0.45


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


def test_http_served_file_is_finite(videos: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(videos)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/intel_asl_thanks.mkv"
        src = open_source(url)
        frames = _read_all(src)
        assert len(frames) == 51 and not src.live
    finally:
        server.shutdown()
        server.server_close()


def _mjpeg_handler(jpegs: list[bytes]):  # type: ignore[no-untyped-def]
    class H(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                for i in range(200):
                    j = jpegs[i % len(jpegs)]
                    self.wfile.write(
                        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                        + str(len(j)).encode()
                        + b"\r\n\r\n"
                        + j
                        + b"\r\n"
                    )
                    time.sleep(0.02)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return H


def test_http_mjpeg_stream_is_live(videos: Path) -> None:
    jpegs = []
    with av.open(str(videos / "intel_face-demographics-walking.gif")) as c:
        for f in c.decode(video=0):
            buf = io.BytesIO()
            f.to_image().convert("RGB").save(buf, format="JPEG")
            jpegs.append(buf.getvalue())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _mjpeg_handler(jpegs))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        src = open_source(f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg", read_timeout=5)
        frames = [src.read() for _ in range(20)]
        assert src.live
        assert all(f is not None and f.size == (480, 270) for f in frames)
        src.close()
    finally:
        server.shutdown()
        server.server_close()
    assert Image.open(io.BytesIO(jpegs[0])).size == (480, 270)


def test_probe(videos: Path) -> None:
    info = probe(str(videos / "short_hamilton_clip.mp4"))
    assert info["width"] == 640 and info["height"] == 360 and info["fps"] == pytest.approx(29.97, abs=0.01)
