"""Every route of the API is an `OffLoopRoute` (`registry.api.routing`): a `def` endpoint
runs in the thread pool, never on the event loop, and its answer is validated on the loop,
not in a second trip through the pool. And every one sits on the app's own route list, so a
request is matched against each route once, not through FastAPI's included routers."""

from __future__ import annotations

import threading

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from registry.api import deps
from registry.api.app import create_app
from registry.api.contract import api_routes
from registry.api.routing import OffLoopRoute, api_router, install_routers

FASTAPI_OWN = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # async, FastAPI's own


def test_every_route_of_the_service_is_an_off_loop_route(runtime):
    app = create_app(runtime)
    # The console is a client of the API (it imports none of it) and renders its own pages.
    routes = [r for r in api_routes(app) if r.path not in FASTAPI_OWN and not r.path.startswith("/console")]
    assert len(routes) > 100
    assert [r.path for r in routes if not isinstance(r.original_route, OffLoopRoute)] == []


def test_every_api_route_is_matched_on_the_apps_own_list(runtime):
    app = create_app(runtime)
    own = [r for r in app.router.routes if isinstance(r, OffLoopRoute)]
    operations = [r for r in api_routes(app) if isinstance(r.original_route, OffLoopRoute)]
    # api_routes also walks included routers: every operation it finds is on the list itself.
    assert len(own) == len(operations) > 100
    assert {(r.path, frozenset(r.methods)) for r in own} == {(r.path, frozenset(r.methods)) for r in operations}


def test_a_routes_dependency_graph_is_the_callers_and_leaves(runtime):
    """FastAPI resolves every node of a route's dependency graph at every request: the
    request's parts (runtime, unit of work, session, meta, anonymous trail) are leaves read
    from the request, and the caller's chain is context → principal → bearer token."""
    app = create_app(runtime)
    leaves = {deps.get_runtime, deps.get_uow, deps.get_session, deps.get_meta, deps.get_anonymous_trail, deps._bearer}
    chains = {
        deps.get_context: {deps.get_principal},
        deps.get_enrolling_context: {deps.get_enrolling_principal},
        deps.get_principal: {deps._bearer},
        deps.get_enrolling_principal: {deps._bearer},
    }
    seen = set()
    for route in api_routes(app):
        for node in deps.dependency_tree(route.original_route.dependant):
            below = {d.call for d in node.dependencies}
            if node.call in leaves:
                assert below == set(), node.call
            elif node.call in chains:
                assert below == chains[node.call], node.call
            seen.add(node.call)
    assert leaves | set(chains) <= seen


def test_installed_routes_keep_their_prefix_tags_operation_id_and_method_answers():
    router = api_router(prefix="/p", tags=["t"])

    @router.get("/{n}")
    def shown(n: int) -> dict[str, int]:
        return {"n": n}

    app = FastAPI()
    install_routers(app, [router])
    with TestClient(app) as client:
        assert client.get("/p/3").json() == {"n": 3}
        assert client.post("/p/3").status_code == 405  # a path that matches with another method
        assert client.get("/q/3").status_code == 404
    operation = app.openapi()["paths"]["/p/{n}"]["get"]
    assert operation["operationId"] == "shown" and operation["tags"] == ["t"]


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
