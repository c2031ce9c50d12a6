"""Secrets in camera URLs (issue 13, item 6): one masking rule, robust to odd passwords and secret
query parameters, idempotent, also inside free text and log records."""

from __future__ import annotations

import io
import logging

import pytest

from openlfr.engine.sources import SecretMaskingFilter, mask_url
from openlfr.services.deployments import redact_url

SECRETS = ("S3cr3t", "p#ss/w", "T0K", "AK9", "KY7", "PW5", "AU3", "SG1", "SESS1", "SD1", "CD2", "BR3", "smith")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://user:p#ss/w@cam.local:554/live", "rtsp://***@cam.local:554/live"),
        ("rtsp://user:S3cr3t/x@10.0.0.5/s", "rtsp://***@10.0.0.5/s"),
        ("rtsp://user:S3c@r3t@10.0.0.5/s", "rtsp://***@10.0.0.5/s"),
        ("rtsp://user:S3c?r3t@10.0.0.5/s", "rtsp://***@10.0.0.5/s"),
        ("rtsp://user:1234/S3cr3t@10.0.0.5/s", "rtsp://***@10.0.0.5/s"),
        ("rtsp://user:12#S3cr3t@10.0.0.5/s", "rtsp://***@10.0.0.5/s"),
        ("rtsp://u:S3#cr/3t@host/a@cam.local/s", "rtsp://***@cam.local/s"),
        ("http://cam/x?token=T0K&apikey=AK9&fps=5", "http://cam/x?token=***&apikey=***&fps=***"),
        (
            "http://cam/x?API_KEY=AK9&Key=KY7&PASSWORD=PW5&Auth=AU3&SIG=SG1&session=SESS1",
            "http://cam/x?API_KEY=***&Key=***&PASSWORD=***&Auth=***&SIG=***&session=***",
        ),
        ("https://cam/x#access_token=T0K", "https://cam/x#access_token=***"),
        ("rtsp://user:p#ss/w@host/live?token=T0K&ch=1", "rtsp://***@host/live?token=***&ch=***"),
        ("rtsp://S3cr3t@host/x", "rtsp://***@host/x"),
        ("rtsp://admin:S3cr3t@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("rtsp://cam.local/stream?user=a@b", "rtsp://cam.local/stream?user=***"),
        # every query value and all user info, whatever the parameter is called (issue 18)
        (
            "rtsp://cam/s?sid=SD1&pw=PW5&t=T0K&code=CD2&bearer=BR3&ch=1",
            "rtsp://cam/s?sid=***&pw=***&t=***&code=***&bearer=***&ch=***",
        ),
        ("rtsp://operator.smith@cam/s", "rtsp://***@cam/s"),
        ("http://cam/x?T0K", "http://cam/x?***"),
        ("rtsp://host:554/s", "rtsp://host:554/s"),
        ("/data/clip.mp4", "/data/clip.mp4"),
        ("webcam:0", "webcam:0"),
        ("0", "0"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert redact_url(url) == shown  # the deployments' helper is the same rule
    assert mask_url(shown) == shown  # idempotent
    for secret in SECRETS:
        assert secret not in mask_url(url)


def test_mask_url_in_free_text() -> None:
    text = (
        "cannot open rtsp://user:p#ss/w@127.0.0.1:1/live?apikey=AK9: Connection refused; "
        "retry 'http://cam/x?sig=SG1&n=1' later"
    )
    out = mask_url(text)
    assert "p#ss/w" not in out and "AK9" not in out and "SG1" not in out
    assert out.startswith("cannot open rtsp://***@127.0.0.1:1/live?apikey=***")
    assert "Connection refused" in out and "http://cam/x?sig=***&n=***" in out


def test_log_filter_masks_message_args_and_traceback() -> None:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(SecretMaskingFilter())
    logger = logging.getLogger("openlfr.test_url_masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("camera %s failed", "rtsp://user:p#ss/w@h/x?token=T0K")
        try:
            raise RuntimeError("open rtsp://admin:S3cr3t@h/x failed")
        except RuntimeError:
            logger.exception("crash")
    finally:
        logger.removeHandler(handler)
    out = buf.getvalue()
    assert "rtsp://***@h/x?token=***" in out and "rtsp://***@h/x" in out
    for secret in SECRETS:
        assert secret not in out
