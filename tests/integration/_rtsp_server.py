"""A minimal RTSP server for tests: serves one H.264 stream over RTP interleaved in the RTSP TCP
connection (RFC 2326 §10.12, RFC 6184 packetization mode 1 with FU-A), looping a clip.

Written for the live-source tests (no Debian package or binary needed): the clip is encoded once
with PyAV's libx264 (short GOP, SPS/PPS repeated before every IDR so a client that reconnects
mid-stream decodes within a few frames), then each RTSP client gets its own sender thread.
``stop()`` closes the listening socket and every client connection (a crash, as seen by a
client); ``start()`` again on the same port restarts it. Loopback only.
"""

from __future__ import annotations

import base64
import socket
import struct
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MAX_PAYLOAD = 1400


def _split_annexb(data: bytes) -> list[bytes]:
    out, i, n = [], 0, len(data)
    starts = []
    while i < n - 3:
        if (
            data[i] == 0
            and data[i + 1] == 0
            and (data[i + 2] == 1 or (data[i + 2] == 0 and i + 3 < n and data[i + 3] == 1))
        ):
            sc = 3 if data[i + 2] == 1 else 4
            starts.append((i, i + sc))
            i += sc
        else:
            i += 1
    for k, (_, s) in enumerate(starts):
        e = starts[k + 1][0] if k + 1 < len(starts) else n
        nal = data[s:e].rstrip(b"\x00") if k + 1 < len(starts) else data[s:e]
        if nal:
            out.append(nal)
    return out


def encode_clip(
    path: Path, fps: int = 15, max_frames: int | None = None, gop: int = 5, width: int | None = None
) -> tuple[list[list[bytes]], bytes, bytes, int]:
    """Decode ``path`` and re-encode to H.264 access units (lists of NAL units)."""
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            img = f.to_ndarray(format="rgb24")
            if width and img.shape[1] != width:
                import cv2

                h = round(img.shape[0] * width / img.shape[1]) // 2 * 2
                img = cv2.resize(img, (width, h))
            frames.append(img)
            if max_frames and len(frames) >= max_frames:
                break
    h, w = frames[0].shape[:2]
    w, h = w // 2 * 2, h // 2 * 2
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps, 1)
    ctx.gop_size = gop
    ctx.max_b_frames = 0
    ctx.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "x264-params": f"repeat-headers=1:keyint={gop}:min-keyint={gop}:scenecut=0",
    }
    aus: list[list[bytes]] = []
    sps = pps = b""
    for i, img in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h, :w]), format="rgb24").reformat(format="yuv420p")
        vf.pts = i
        for pkt in ctx.encode(vf):
            aus.append(_split_annexb(bytes(pkt)))
    for pkt in ctx.encode(None):
        aus.append(_split_annexb(bytes(pkt)))
    for au in aus:
        for nal in au:
            t = nal[0] & 0x1F
            if t == 7 and not sps:
                sps = nal
            elif t == 8 and not pps:
                pps = nal
    return aus, sps, pps, fps


class RtspServer:
    def __init__(
        self,
        clip: Path,
        port: int = 0,
        path: str = "live",
        fps: int = 15,
        user: str | None = None,
        password: str | None = None,
        max_frames: int | None = None,
        width: int | None = None,
    ) -> None:
        self.aus, self.sps, self.pps, self.fps = encode_clip(clip, fps=fps, max_frames=max_frames, width=width)
        self.port = port
        self.path = path
        self.user, self.password = user, password
        self._sock: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sessions = 0
        self.packets_sent = 0

    @property
    def url(self) -> str:
        cred = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}/{self.path}"

    def start(self) -> RtspServer:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        self.port = s.getsockname()[1]
        s.listen(8)
        self._sock = s
        self._stop = threading.Event()
        threading.Thread(target=self._accept, args=(s, self._stop), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        with self._lock:
            for c in self._clients:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._clients.clear()

    def _accept(self, s: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(conn)
            threading.Thread(target=self._serve, args=(conn, stop), daemon=True).start()

    def _sdp(self) -> bytes:
        sprop = base64.b64encode(self.sps).decode() + "," + base64.b64encode(self.pps).decode()
        plid = self.sps[1:4].hex() if len(self.sps) >= 4 else "42e01e"
        return (
            f"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=openlfr-test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"a=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 packetization-mode=1;profile-level-id={plid};sprop-parameter-sets={sprop}\r\n"
            f"a=control:track1\r\n"
        ).encode()

    def _authorised(self, headers: dict[str, str]) -> bool:
        if not self.user:
            return True
        want = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return headers.get("authorization", "") == want

    def _serve(self, conn: socket.socket, stop: threading.Event) -> None:
        buf = b""
        session = f"{int(time.time() * 1000) % 10**8:08d}"
        sender: threading.Thread | None = None
        play = threading.Event()
        try:
            while not stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while buf:
                    if buf[:1] == b"$":  # interleaved RTCP from the client: skip
                        if len(buf) < 4:
                            break
                        n = struct.unpack(">H", buf[2:4])[0]
                        if len(buf) < 4 + n:
                            break
                        buf = buf[4 + n :]
                        continue
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head, buf = buf[:end].decode("latin-1"), buf[end + 4 :]
                    lines = head.split("\r\n")
                    method, url, _ = ([*lines[0].split(" "), "", ""])[:3]
                    headers = {}
                    for ln in lines[1:]:
                        k, _, v = ln.partition(":")
                        headers[k.strip().lower()] = v.strip()
                    clen = int(headers.get("content-length", "0") or 0)
                    buf = buf[clen:]
                    cseq = headers.get("cseq", "0")
                    if not self._authorised(headers):
                        self._reply(conn, cseq, "401 Unauthorized", {"WWW-Authenticate": 'Basic realm="openlfr-test"'})
                        continue
                    if method == "OPTIONS":
                        self._reply(
                            conn, cseq, "200 OK", {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"}
                        )
                    elif method == "DESCRIBE":
                        base = url if url.endswith("/") else url + "/"
                        self._reply(
                            conn, cseq, "200 OK", {"Content-Base": base, "Content-Type": "application/sdp"}, self._sdp()
                        )
                    elif method == "SETUP":
                        tr = headers.get("transport", "")
                        if "TCP" not in tr.upper():
                            self._reply(conn, cseq, "461 Unsupported Transport", {})
                            continue
                        self._reply(
                            conn,
                            cseq,
                            "200 OK",
                            {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1", "Session": f"{session};timeout=60"},
                        )
                    elif method == "PLAY":
                        self._reply(conn, cseq, "200 OK", {"Session": session, "Range": "npt=0.000-"})
                        if sender is None:
                            self.sessions += 1
                            play.set()
                            sender = threading.Thread(target=self._send, args=(conn, stop), daemon=True)
                            sender.start()
                    elif method == "GET_PARAMETER":
                        self._reply(conn, cseq, "200 OK", {"Session": session})
                    elif method == "TEARDOWN":
                        self._reply(conn, cseq, "200 OK", {"Session": session})
                        return
                    else:
                        self._reply(conn, cseq, "501 Not Implemented", {})
        except OSError:
            return
        finally:
            stop_conn = conn
            try:
                stop_conn.close()
            except OSError:
                pass

    def _reply(self, conn: socket.socket, cseq: str, status: str, headers: dict[str, str], body: bytes = b"") -> None:
        h = f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body:
            h += f"Content-Length: {len(body)}\r\n"
        conn.sendall(h.encode() + b"\r\n" + body)

    def _send(self, conn: socket.socket, stop: threading.Event) -> None:
        seq = 0
        ssrc = 0x1234ABCD
        period = 1.0 / self.fps
        # start at a keyframe: find the first AU holding an IDR (type 5)
        n = len(self.aus)
        idr = [i for i, au in enumerate(self.aus) if any((nal[0] & 0x1F) == 5 for nal in au)]
        i = idr[0] if idr else 0
        frame_no = 0
        t0 = time.monotonic()
        try:
            while not stop.is_set():
                au = self.aus[i % n]
                ts = (frame_no * 90000 // self.fps) & 0xFFFFFFFF
                pkts: list[bytes] = []
                for k, nal in enumerate(au):
                    last_nal = k == len(au) - 1
                    if len(nal) <= MAX_PAYLOAD:
                        pkts.append(self._rtp(nal, seq + len(pkts), ts, ssrc, last_nal))
                    else:
                        hdr, body = nal[0], nal[1:]
                        fu_ind = (hdr & 0xE0) | 28
                        pos = 0
                        while pos < len(body):
                            chunk = body[pos : pos + MAX_PAYLOAD - 2]
                            start, end = pos == 0, pos + len(chunk) >= len(body)
                            fu_hdr = (0x80 if start else 0) | (0x40 if end else 0) | (hdr & 0x1F)
                            pkts.append(
                                self._rtp(bytes([fu_ind, fu_hdr]) + chunk, seq + len(pkts), ts, ssrc, last_nal and end)
                            )
                            pos += len(chunk)
                seq = (seq + len(pkts)) & 0xFFFF
                conn.sendall(b"".join(b"$\x00" + struct.pack(">H", len(p)) + p for p in pkts))
                self.packets_sent += len(pkts)
                frame_no += 1
                i += 1
                due = t0 + frame_no * period
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except OSError:
            return

    @staticmethod
    def _rtp(payload: bytes, seq: int, ts: int, ssrc: int, marker: bool) -> bytes:
        return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | 96, seq & 0xFFFF, ts, ssrc) + payload
