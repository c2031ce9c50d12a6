"""Every API route says what it answers: a ``response_model`` for JSON, or a non-JSON ``response_class``
(HTML page, redirect, image/file, stream, CSV/Prometheus text) with ``response_model=None`` (issue 20)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from tests.integration.apihelp import init_data_dir


def is_model(tp: Any) -> bool:
    """A pydantic model, or a list of them (not ``dict[str, Any]``, which FastAPI infers from a return type)."""
    if get_origin(tp) is list:
        return all(is_model(a) for a in get_args(tp))
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI keeps them behind the router)."""
    routes = (c.original_route for c in iter_route_contexts(app.routes))
    return [r for r in routes if isinstance(r, APIRoute)]


FREE_FORM = {"/openapi.json"}
"""The OpenAPI document itself: JSON with no model of its own."""


def untyped_routes(app: FastAPI) -> list[str]:
    """Routes that answer JSON without declaring its model (FastAPI's default class is JSONResponse)."""
    bad = []
    for route in api_routes(app):
        cls = getattr(route.response_class, "value", route.response_class)  # DefaultPlaceholder unwraps
        json_like = isinstance(cls, type) and issubclass(cls, JSONResponse)
        if json_like and not is_model(route.response_model) and route.path not in FREE_FORM:
            bad.append(f"{sorted(route.methods)} {route.path} ({route.endpoint.__module__}.{route.name})")
    return bad


def test_untyped_routes_is_caught() -> None:
    """The check fails on a bare JSON route, and passes typed or non-JSON ones."""

    class Out(BaseModel):
        ok: bool

    router = APIRouter()

    @router.get("/bare")
    def bare() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/typed", response_model=Out)
    def typed() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/raw", response_class=Response, response_model=None)
    def raw() -> Response:
        return Response(b"x", media_type="image/jpeg")

    app = FastAPI()
    app.include_router(router)
    bad = untyped_routes(app)
    assert len(bad) == 1 and "/bare" in bad[0], bad


def test_every_route_declares_its_response(data_dir: Path) -> None:
    from openlfr.api.app import create_app
    from openlfr.api.config import load_api_settings

    app = create_app(init_data_dir(data_dir), api_settings=load_api_settings(live_mode="thread"))
    assert len(api_routes(app)) > 80
    assert untyped_routes(app) == []


def test_typed_responses_forbid_unknown_keys() -> None:
    """A key a service adds without adding it to the model fails the response (500), never dropped silently."""
    import pydantic
    import pytest

    from openlfr.api import schemas_ops

    models = [m for m in vars(schemas_ops).values()
              if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == schemas_ops.__name__]
    assert len(models) > 30
    assert [m.__name__ for m in models if m.model_config.get("extra") != "forbid"] == []
    with pytest.raises(pydantic.ValidationError):
        schemas_ops.WatchlistEdited.model_validate({"name": "a", "description": "", "secret": 1})
