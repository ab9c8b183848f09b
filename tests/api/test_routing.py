"""Every route of the API is an `OffLoopRoute` (`registry.api.routing`): a `def` endpoint
runs in the thread pool, never on the event loop, and its answer is validated on the loop,
not in a second trip through the pool."""

from __future__ import annotations

import threading

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from registry.api.app import create_app
from registry.api.contract import api_routes
from registry.api.routing import OffLoopRoute, api_router

FASTAPI_OWN = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # async, FastAPI's own


def test_every_route_of_the_service_is_an_off_loop_route(runtime):
    app = create_app(runtime)
    # The console is a client of the API (it imports none of it) and renders its own pages.
    routes = [r for r in api_routes(app) if r.path not in FASTAPI_OWN and not r.path.startswith("/console")]
    assert len(routes) > 100
    assert [r.path for r in routes if not isinstance(r.original_route, OffLoopRoute)] == []


def test_a_def_endpoint_runs_off_the_loop_and_its_answer_is_validated_on_it():
    threads: dict[str, int] = {}

    class Answer(BaseModel):
        value: int

        @field_validator("value")
        @classmethod
        def _seen(cls, value: int) -> int:
            threads["validated"] = threading.get_ident()
            return value

    async def on_loop() -> None:
        threads["loop"] = threading.get_ident()

    router = api_router(prefix="/t")

    @router.get("/{n}", response_model=Answer, dependencies=[Depends(on_loop)])
    def endpoint(n: int) -> dict[str, object]:
        threads["endpoint"] = threading.get_ident()
        return {"value": n, "extra": "dropped by the response model"}

    @router.get("/bad/answer", response_model=Answer)
    def bad() -> dict[str, object]:
        return {"value": "not a number"}

    @router.get("/named/func")
    def named(func: str) -> dict[str, str]:  # a parameter named as run_in_threadpool's own
        return {"func": func}

    app = FastAPI()
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/t/7")
        assert answer.status_code == 200 and answer.json() == {"value": 7}
        assert threads["endpoint"] != threads["loop"], "a blocking endpoint ran on the event loop"
        assert threads["validated"] == threads["loop"], "the answer took a second trip through the thread pool"
        assert client.get("/t/bad/answer").status_code == 500  # still validated
        assert client.get("/t/x").status_code == 422  # parameters are still the endpoint's
        assert client.get("/t/named/func?func=b").json() == {"func": "b"}
    openapi = app.openapi()["paths"]["/t/{n}"]["get"]
    assert openapi["parameters"][0]["name"] == "n"
    schema = openapi["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Answer"}
