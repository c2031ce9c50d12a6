"""Transparency reports (JSON, CSV, printable HTML) and the published-records comparison."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from openlfr.api.deps import Anyone, Id, State
from openlfr.api.schemas_ops import PublishedReport
from openlfr.errors import InputError, NotFoundError, OpenLFRError
from openlfr.services import published, reports

router = APIRouter(prefix="/api/reports", tags=["reports"])

Format = Literal["json", "csv", "html"]
MAX_CSV = 5 * 1024 * 1024


def _render(rep: reports.Report, fmt: str, stem: str, download: bool) -> Response:
    disp = {"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'} if download else {}
    if fmt == "csv":
        return Response(reports.to_csv(rep), media_type="text/csv; charset=utf-8", headers=disp)
    if fmt == "html":
        # The printable report carries its own styles and PNG charts (data: URIs).
        csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        return Response(
            reports.to_html(rep),
            media_type="text/html; charset=utf-8",
            headers={**disp, "Content-Security-Policy": csp},
        )
    return JSONResponse(rep.to_dict(), headers=disp)


@router.get(
    "/deployments/{ref}",
    response_class=Response,
    response_model=None,
    summary="Report of one deployment",
    responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}},
)
def deployment_report(ref: Id, st: State, p: Anyone, format: Format = "json", download: bool = False) -> Response:
    rep = reports.deployment_report(st.ctx, ref, actor=p.username)
    return _render(rep, format, f"openlfr-deployment-{ref}", download)


@router.get(
    "/period",
    response_class=Response,
    response_model=None,
    summary="Report of every deployment that started in a period",
    responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}},
)
def period_report(
    st: State,
    p: Anyone,
    from_: Annotated[str, Query(alias="from", min_length=10, max_length=40, description="YYYY-MM-DD or ISO date-time")],
    to: Annotated[str, Query(min_length=10, max_length=40, description="YYYY-MM-DD (inclusive) or ISO date-time")],
    format: Format = "json",
    download: bool = False,
) -> Response:
    start, end = reports.parse_when(from_), reports.parse_when(to, end=True)
    rep = reports.period_report(st.ctx, start, end, actor=p.username)
    return _render(rep, format, f"openlfr-period-{start.date()}-{end.date()}", download)


@router.get(
    "/published", response_model=PublishedReport, summary="A force's published records (the configured CSV), per year"
)
def published_configured(st: State, p: Anyone) -> published.PublishedReport:
    path = st.api.published_csv
    if path is None or not path.is_file():
        raise NotFoundError(
            "no published-records file configured (set OPENLFR_API_PUBLISHED_CSV) ; upload one instead",
            code="no_published_csv",
        )
    return published.published_report(path)


@router.post(
    "/published", response_model=PublishedReport, summary="Aggregate an uploaded published-records CSV per year"
)
def published_upload(
    st: State, p: Anyone, file: Annotated[UploadFile, File(description="CSV")]
) -> published.PublishedReport:
    data = file.file.read(MAX_CSV + 1)
    if len(data) > MAX_CSV:
        raise InputError(f"CSV over {MAX_CSV} bytes", code="file_too_large")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the file is not UTF-8 text (expected a CSV)", code="bad_csv") from None
    name = (file.filename or "upload.csv")[:200]
    with tempfile.TemporaryDirectory(prefix="openlfr-published-") as d:
        path = Path(d) / "published.csv"
        path.write_bytes(data)
        try:
            out = published.published_report(path)
        except OpenLFRError as exc:  # name the user's file, never the server's temporary path
            exc.message = exc.message.replace(str(path), name)
            raise
    return replace(out, source=name)
