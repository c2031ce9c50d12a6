"""Security of the HTTP API: CSRF on console writes, login throttling, password/token storage,
upload limits (non-image, 200 MB streamed, decompression bomb), one error shape, metrics."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from tests.conftest import TEST_DATA
from tests.integration.apihelp import PASSWORD, ApiEnv, make_env

FACE = TEST_DATA / "faces" / "Al_Gore" / "Al_Gore_0001.jpg"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("sec") / "data", max_request_bytes=8 * 1024 * 1024)
        r = e.client.post("/api/watchlists", json={"name": "wl"}, headers=e.h("admin"))
        assert r.status_code == 201
        yield e
        e.client.close()


def _login(env: ApiEnv, user: str = "supervisor1") -> tuple[Any, str]:
    from fastapi.testclient import TestClient

    c = TestClient(env.app)
    r = c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


def test_session_cookie_flags_and_csrf(env: ApiEnv) -> None:
    from fastapi.testclient import TestClient

    c = TestClient(env.app)
    r = c.post("/api/auth/login", json={"username": "supervisor1", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    csrf = r.json()["csrf_token"]
    r = c.post("/api/watchlists", json={"name": "csrf-test"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = c.post("/api/watchlists", json={"name": "csrf-test"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = c.post("/api/watchlists", json={"name": "csrf-test"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert c.get("/api/watchlists").status_code == 200  # reads need no token
    # behind TLS (a proxy sending X-Forwarded-Proto is handled by uvicorn; here the scheme itself)
    tls = TestClient(env.app, base_url="https://testserver")
    r = tls.post("/api/auth/login", json={"username": "operator1", "password": PASSWORD})
    assert "secure" in r.headers["set-cookie"].lower()
    r = c.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert c.get("/api/watchlists").status_code == 401


def test_secrets_are_stored_hashed(env: ApiEnv) -> None:
    from openlfr.storage.models_users import ApiToken, LoginSession, User

    c, _ = _login(env, "operator1")
    session = c.cookies.get("openlfr_session")
    with env.ctx.db.session() as s:
        u = s.scalar(select(User).where(User.username == "operator1"))
        assert u.password_hash.startswith("$argon2id$") and PASSWORD not in u.password_hash
        hashes = set(s.scalars(select(LoginSession.token_hash)))
        assert session not in hashes and len(next(iter(hashes))) == 64
        assert env.tokens["operator"] not in set(s.scalars(select(ApiToken.token_hash)))


def test_login_throttling_locks_the_account_and_the_client(env: ApiEnv) -> None:
    from fastapi.testclient import TestClient

    from openlfr.services import users

    users.create_user(env.ctx, "victim", PASSWORD, "operator", actor="test")
    c = TestClient(env.app)
    codes = [
        c.post("/api/auth/login", json={"username": "victim", "password": "wrong-password-x"}).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    r = c.post("/api/auth/login", json={"username": "victim", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "login_throttled"
    # unknown user names fail the same way (no enumeration) and count against the client
    r = c.post("/api/auth/login", json={"username": "nobody", "password": "whatever-123"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"
    limiter = env.app.state.openlfr.limiter
    for _ in range(limiter.limit):
        limiter.failed("testclient")
    r = c.post("/api/auth/login", json={"username": "admin1", "password": PASSWORD})
    assert r.status_code == 429
    limiter.succeeded("testclient")
    from openlfr.services import audit_log

    ev = audit_log.search(env.ctx, action="auth.login_failed", limit=100)
    assert ev.count >= 6


def test_non_image_uploads_are_rejected_with_a_reason(env: ApiEnv) -> None:
    c, h = env.client, env.h("supervisor")
    files = [
        ("files", ("notes.txt", b"hello, not an image", "text/plain")),
        ("files", ("fake.jpg", b"<?php echo 1; ?>", "image/jpeg")),
        ("files", ("empty.png", b"", "image/png")),
    ]
    r = c.post("/api/watchlists/wl/entries", data={"person_id": "p1"}, files=files, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted_images"] == 0 and body["rejected_images"] == 3
    assert all(x["reason"].startswith("unreadable") for x in body["rejected"])
    assert c.get("/api/watchlists/wl", headers=h).json()["entries"] == []  # nothing half-written
    r = c.post("/api/watchlists/wl/check", files={"image": ("x.txt", b"plain text", "text/plain")}, headers=h)
    assert r.status_code == 415 and r.json()["error"]["code"] == "bad_image"


def test_decompression_bomb_is_rejected(env: ApiEnv) -> None:
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, "PNG")  # 81 Mpx, a few kB on disk
    bomb = buf.getvalue()
    assert len(bomb) < 200_000
    c, h = env.client, env.h("supervisor")
    r = c.post(
        "/api/watchlists/wl/entries",
        data={"person_id": "bomb"},
        files=[("files", ("bomb.png", bomb, "image/png"))],
        headers=h,
    )
    assert r.status_code == 200
    (rej,) = r.json()["rejected"]
    assert "pixels" in rej["reason"] or "bomb" in rej["reason"], rej
    r = c.post("/api/watchlists/wl/check", files={"image": ("bomb.png", bomb, "image/png")}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] != "internal_error"


def test_one_error_shape(env: ApiEnv) -> None:
    c = env.client
    for r, status in (
        (c.get("/api/nowhere", headers=env.h("admin")), 404),
        (c.delete("/health"), 405),
        (c.get("/api/alerts?limit=0", headers=env.h("admin")), 422),
        (c.get("/api/deployments/999", headers=env.h("admin")), 404),
        (c.post("/api/users", json={"username": "x", "role": "king", "password": "p"}, headers=env.h("admin")), 422),
    ):
        assert r.status_code == status, (r.request.url, r.text)
        err = r.json()["error"]
        assert set(err) == {"code", "message"} and err["code"] and err["message"]


def test_metrics_for_supervisors(env: ApiEnv) -> None:
    r = env.client.get("/metrics", headers=env.h("supervisor"))
    assert r.status_code == 200 and "openlfr_http_requests_total" in r.text
    assert "openlfr_alert_push_seconds" in r.text
    assert env.client.get("/metrics", headers=env.h("admin")).status_code == 403


# ---------------------------------------------------------------- over a real socket


@pytest.fixture(scope="module")
def server(env: ApiEnv) -> Iterator[int]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    th.join(10)


def _head(port: int, extra: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        (
            "POST /api/watchlists/wl/entries HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: multipart/form-data; boundary=XyZ\r\n" + extra + "\r\n"
        ).encode()
    )
    return s


def _response(s: socket.socket) -> bytes:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_200_mb_upload_refused_before_it_is_read(env: ApiEnv, server: int) -> None:
    s = _head(server, f"Authorization: Bearer {env.tokens['supervisor']}\r\nContent-Length: {200 * 1024 * 1024}\r\n")
    s.sendall(b"--XyZ\r\n" + b"\0" * 65536)  # only 64 kB of the announced 200 MB
    t0 = time.monotonic()
    resp = _response(s)
    s.close()
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
    assert time.monotonic() - t0 < 5


def test_streamed_upload_without_length_stops_at_the_cap(env: ApiEnv, server: int) -> None:
    s = _head(server, f"Authorization: Bearer {env.tokens['supervisor']}\r\nTransfer-Encoding: chunked\r\n")
    sent = 0
    chunk = b"\0" * (1024 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    pre = (
        b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="big.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
    )
    s.sendall(f"{len(pre):x}\r\n".encode() + pre + b"\r\n")
    s.settimeout(0.05)
    resp = b""
    try:
        while sent < 200 * 1024 * 1024:
            s.sendall(frame)
            sent += len(chunk)
            try:
                got = s.recv(65536)
            except (TimeoutError, BlockingIOError):
                continue
            if got:
                resp = got
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.settimeout(10)
    if not resp:
        resp = _response(s)
    s.close()
    assert sent < 40 * 1024 * 1024, f"server kept reading: {sent} bytes"
    assert b" 413 " in resp.split(b"\r\n", 1)[0] or b"request_too_large" in resp, resp[:300]
