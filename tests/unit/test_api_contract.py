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


def nested_models(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models a type names: itself, inside ``list``/``dict``/``X | None``, and its fields', deeply."""
    out: list[type[BaseModel]] = []
    todo = [tp]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t not in out:
                out.append(t)
                todo.extend(f.annotation for f in t.model_fields.values())
        else:
            todo.extend(get_args(t))
    return out


def open_models(models: list[type[BaseModel]]) -> list[str]:
    """The models that would take a key they do not declare (anything but ``extra="forbid"``)."""
    return sorted({m.__name__ for m in models if m.model_config.get("extra") != "forbid"})


def api_models() -> list[type[BaseModel]]:
    """Every pydantic model defined in ``openlfr.api`` (its modules imported first), settings aside."""
    import importlib
    import pkgutil

    from pydantic_settings import BaseSettings

    import openlfr.api

    for mod in pkgutil.walk_packages(openlfr.api.__path__, "openlfr.api."):
        importlib.import_module(mod.name)
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("openlfr.api") and not issubclass(sub, BaseSettings) and sub not in found:
                found.append(sub)
    return found


def test_open_models_are_caught() -> None:
    """The check finds a model that allows (or ignores) unknown keys, also when nested in a typed one."""
    from pydantic import ConfigDict

    from openlfr.api.schemas import Closed

    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")

    class Ignoring(BaseModel):
        a: int

    class Outer(Closed):
        items: list[Loose]
        one: Ignoring | None

    assert open_models(nested_models(Outer)) == ["Ignoring", "Loose"]
    assert open_models(nested_models(list[Closed])) == []


def test_every_model_forbids_unknown_keys(data_dir: Path) -> None:
    """Issue 20: every API model, and every model a route answers with (nested ones too), refuses a key it does
    not declare: a key a service adds without declaring it fails the response (500), never leaks out unlisted."""
    from openlfr.api.app import create_app
    from openlfr.api.config import load_api_settings

    models = api_models()
    assert len(models) > 90
    assert open_models(models) == []
    app = create_app(init_data_dir(data_dir), api_settings=load_api_settings(live_mode="thread"))
    answered = [m for r in api_routes(app) for m in nested_models(r.response_model)]
    assert len(answered) > 60
    assert open_models(answered) == []


def test_unknown_keys_fail_and_unset_optional_keys_stay_out() -> None:
    """A model refuses an unknown key; a key in ``omit_unset`` is in the JSON only when it was given."""
    import dataclasses

    import pydantic
    import pytest

    from openlfr.api import schemas, schemas_ops

    with pytest.raises(pydantic.ValidationError):
        schemas_ops.WatchlistEdited.model_validate({"name": "a", "description": "", "secret": 1})

    @dataclasses.dataclass(frozen=True)
    class Edited:  # a service's typed result with a field the model lacks
        name: str
        description: str
        secret: int

    with pytest.raises(pydantic.ValidationError):
        schemas_ops.WatchlistEdited.model_validate(Edited("a", "", 1))

    @dataclasses.dataclass(frozen=True)
    class Exact:
        name: str
        description: str

    assert schemas_ops.WatchlistEdited.model_validate(Exact("a", "")).model_dump() == {"name": "a", "description": ""}
    base = {"id": 1, "name": "w", "description": "", "entries": 0, "images": 0}
    with pytest.raises(pydantic.ValidationError):
        schemas.WatchlistPublic.model_validate({**base, "owner": "x"})
    short = schemas.WatchlistPublic.model_validate(base).model_dump(mode="json")
    assert list(short) == [*base, "deployment_id", "embedder", "embedder_current"]
    full = schemas.WatchlistPublic.model_validate({**base, "created_by": "a", "created_at": None})
    assert list(full.model_dump(mode="json"))[-2:] == ["created_by", "created_at"]
    live = schemas.LiveStatus.model_validate({"deployment_id": 3, "running": False, "cameras": []})
    assert live.model_dump_json() == '{"deployment_id":3,"running":false,"cameras":[]}'


def test_a_pydantic_result_is_read_as_given() -> None:
    """A route may return a service's pydantic result (e.g. ``DeploymentSummary``): the response model reads
    the fields it was given, so an unset optional field stays out of the JSON (``omit_unset``) and a field the
    response model lacks fails, as for a dataclass."""
    import pydantic
    import pytest

    from openlfr.api import schemas, schemas_ops

    class Edited(pydantic.BaseModel):
        name: str
        description: str
        secret: int | None = None

    assert schemas_ops.WatchlistEdited.model_validate(Edited(name="a", description="")).model_dump() == {
        "name": "a",
        "description": "",
    }
    with pytest.raises(pydantic.ValidationError):
        schemas_ops.WatchlistEdited.model_validate(Edited(name="a", description="", secret=None))

    class Listed(pydantic.BaseModel):
        id: int
        name: str
        description: str
        entries: int
        images: int
        created_by: str | None = None

    base = {"id": 1, "name": "w", "description": "", "entries": 0, "images": 0}
    short = schemas.WatchlistPublic.model_validate(Listed(**base)).model_dump(mode="json")
    assert "created_by" not in short
    full = schemas.WatchlistPublic.model_validate(Listed(**base, created_by="a")).model_dump(mode="json")
    assert full["created_by"] == "a"
