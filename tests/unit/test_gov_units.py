"""Small governance helpers: both error rates, URL redaction, dates, roles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openlfr.errors import AuthError, InputError
from openlfr.services.deployments import redact_url
from openlfr.services.reports import parse_when, rates
from openlfr.services.roles import MAY_AUTHORISE, require_role


@pytest.mark.parametrize(
    ("faces", "true", "false", "fpf", "share"),
    [
        (1000, 9, 1, 0.001, 0.1),
        (500, 0, 0, 0.0, None),
        (0, 3, 1, None, 0.25),
        (902_748, 1_259, 27, 27 / 902_748, 27 / 1_286),
    ],
)
def test_rates(faces: int, true: int, false: int, fpf: float | None, share: float | None) -> None:
    r = rates(faces, true, false)
    assert r.false_alerts_per_face == (None if fpf is None else pytest.approx(fpf))
    assert r.share_of_alerts_wrong == (None if share is None else pytest.approx(share))
    if fpf is None:
        assert r.false_alerts_per_face_ci is None and r.false_alerts_per_face_reason
    else:
        assert r.false_alerts_per_face_ci is not None
        lo, hi = r.false_alerts_per_face_ci
        assert lo <= fpf <= hi
    if share is None:
        assert r.share_of_alerts_wrong_reason == "no adjudicated alerts"
    else:
        assert r.share_of_alerts_wrong_reason is None and "share_of_alerts_wrong_reason" not in r.to_dict()
    if faces and false == 0:
        assert r.false_alerts_per_face_ci is not None
        assert r.false_alerts_per_face_ci[1] == pytest.approx(1 - 0.025 ** (1 / faces))  # ~3.7/n
    keys = ["false_alerts_per_face", "false_alerts_per_face_ci", "faces_per_false_alert"]
    keys += ["false_alerts_per_face_reason"] if fpf is None else []
    keys += ["share_of_alerts_wrong", "share_of_alerts_wrong_ci"]
    keys += ["share_of_alerts_wrong_reason"] if share is None else []
    assert list(r.to_dict()) == keys  # the report's JSON keeps its keys, in this order


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("http://cam.local/mjpeg?user=a&password=hunter2", "http://cam.local/mjpeg?user=***&password=***"),
        ("https://x/y?token=abc&fps=5", "https://x/y?token=***&fps=***"),
        ("rtsp://viewer@10.0.0.5/s", "rtsp://***@10.0.0.5/s"),  # a lone user part may be a token
        ("/data/clip.mp4", "/data/clip.mp4"),
        ("0", "0"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url) and "abc&" not in redact_url(url)


def test_parse_when() -> None:
    assert parse_when("2024-07-11") == datetime(2024, 7, 11, tzinfo=UTC)
    assert parse_when("2024-07-11", end=True) == datetime(2024, 7, 12, tzinfo=UTC)
    assert parse_when("2024-07-11T10:30") == datetime(2024, 7, 11, 10, 30, tzinfo=UTC)
    assert parse_when("2024-07-11T10:30:00+01:00") == datetime(2024, 7, 11, 9, 30, tzinfo=UTC)
    assert parse_when("2024-07-11T10:30:00Z") == datetime(2024, 7, 11, 10, 30, tzinfo=UTC)
    with pytest.raises(InputError):
        parse_when("11/07/24")


def test_roles() -> None:
    assert require_role("Supervisor", MAY_AUTHORISE, "authorise") == "supervisor"
    with pytest.raises(AuthError) as e:
        require_role("operator", MAY_AUTHORISE, "authorise")
    assert e.value.code == "forbidden" and e.value.http_status == 403
    with pytest.raises(InputError):
        require_role("chief", MAY_AUTHORISE, "authorise")
