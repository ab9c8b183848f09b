"""Every route of the API is an `OffLoopRoute` (`registry.api.routing`): its dependencies,
its `def` endpoint and its answer's validation run in one worker thread, never on the event
loop, with FastAPI's order of resolution and refusals (`registry.api.dispatch`). And every
one sits on the app's own route list, so a request is matched against each route once, not
through FastAPI's included routers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Annotated

import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from registry.api import deps
from registry.api.app import create_app
from registry.api.contract import api_routes
from registry.api.dispatch import Unsupported
from registry.api.routing import OffLoopRoute, api_router, install_routers
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

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
    """Every node of a route's dependency graph is resolved at every request: the
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


def test_a_routes_dependencies_endpoint_and_answer_run_in_one_worker_thread():
    threads: dict[str, set[int]] = {"loop": set(), "work": set()}

    class Answer(BaseModel):
        value: int

        @field_validator("value")
        @classmethod
        def _seen(cls, value: int) -> int:
            threads["work"].add(threading.get_ident())
            return value

    async def coroutine_dependency() -> None:  # run to its end in the worker thread
        threads["work"].add(threading.get_ident())

    def blocking_dependency() -> None:
        threads["work"].add(threading.get_ident())

    router = api_router(prefix="/t")

    @router.get(
        "/{n}",
        response_model=Answer,
        dependencies=[Depends(coroutine_dependency), Depends(blocking_dependency)],
    )
    def endpoint(n: int) -> dict[str, object]:
        threads["work"].add(threading.get_ident())
        return {"value": n, "extra": "dropped by the response model"}

    @router.get("/bad/answer", response_model=Answer)
    def bad() -> dict[str, object]:
        return {"value": "not a number"}

    @router.get("/named/func")
    def named(func: str) -> dict[str, str]:  # a parameter named as run_in_threadpool's own
        return {"func": func}

    app = FastAPI()

    @app.middleware("http")
    async def on_loop(request, call_next):  # type: ignore[no-untyped-def]
        threads["loop"].add(threading.get_ident())
        return await call_next(request)

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/t/7")
        assert answer.status_code == 200 and answer.json() == {"value": 7}
        assert len(threads["work"]) == 1, "the dependencies, endpoint and answer took more than one hop"
        assert threads["work"].isdisjoint(threads["loop"]), "blocking work ran on the event loop"
        assert client.get("/t/bad/answer").status_code == 500  # still validated
        assert client.get("/t/x").status_code == 422  # parameters are still the endpoint's
        assert client.get("/t/named/func?func=b").json() == {"func": "b"}
    openapi = app.openapi()["paths"]["/t/{n}"]["get"]
    assert openapi["parameters"][0]["name"] == "n"
    schema = openapi["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Answer"}


class Body(BaseModel):
    size: int


def test_resolution_keeps_fastapis_order_cache_and_answer():
    """Sub-dependencies first, depth first, each once per request; a dependency that refuses
    answers before the body is looked at; every invalid part is named at once; a `Response`
    parameter's status and headers reach the answer."""
    calls: list[str] = []

    def shared() -> str:
        calls.append("shared")
        return "s"

    def gate(x_pass: Annotated[str | None, Header()] = None, value: str = Depends(shared)) -> str:
        calls.append("gate")
        if x_pass != "yes":
            raise HTTPException(401, "no pass")
        return value

    router = api_router()

    @router.post("/things/{n}", status_code=201)
    def made(n: int, body: Body, response: Response, g: str = Depends(gate), again: str = Depends(shared)) -> dict:
        response.headers["Location"] = f"/things/{n}"
        if n == 0:
            response.status_code = 200
        return {"n": n, "size": body.size, "g": g, "again": again}

    app = FastAPI()
    install_routers(app, [router])
    with TestClient(app) as client:
        refused = client.post("/things/x", json={"size": "big"})
        assert refused.status_code == 401, "the refusing dependency answers before the 422"
        wrong = client.post("/things/x", json={"size": "big"}, headers={"X-Pass": "yes"})
        assert wrong.status_code == 422
        assert [e["loc"] for e in wrong.json()["detail"]] == [["path", "n"], ["body", "size"]]
        calls.clear()
        made_ = client.post("/things/3", json={"size": 2}, headers={"X-Pass": "yes"})
        assert made_.status_code == 201 and made_.headers["location"] == "/things/3"
        assert made_.json() == {"n": 3, "size": 2, "g": "s", "again": "s"}
        assert calls == ["shared", "gate"], "a dependency used twice is called once per request"
        assert client.post("/things/0", json={"size": 1}, headers={"X-Pass": "yes"}).status_code == 200
        malformed = client.post(
            "/things/3", content=b"{", headers={"X-Pass": "yes", "Content-Type": "application/json"}
        )
        assert malformed.status_code == 422 and malformed.json()["detail"][0]["type"] == "json_invalid"


def test_what_the_resolver_cannot_run_is_refused_when_the_route_is_made():
    router = api_router()

    def held() -> Iterator[int]:
        yield 1

    with pytest.raises(Unsupported, match="yield"):

        @router.get("/held")
        def uses(value: int = Depends(held)) -> int:
            return value

    with pytest.raises(Unsupported, match="plain def"):

        @router.get("/coroutine")
        async def on_the_loop() -> int:
            return 1


def test_a_coroutine_dependency_that_awaits_fails_the_request_not_the_loop():
    async def waits() -> None:
        await asyncio.sleep(0)

    router = api_router()

    @router.get("/waits", dependencies=[Depends(waits)])
    def endpoint() -> int:
        return 1

    app = FastAPI()
    install_routers(app, [router])
    with TestClient(app) as client, pytest.raises(RuntimeError, match="awaited"):
        client.get("/waits")


def test_a_service_request_runs_its_statements_and_commit_in_one_worker_thread(client, bootstrap, runtime):
    """On the service's own routes: the principal's statement, the record's, the audit entry
    and the commit all run in one thread of the pool, none on the event loop."""
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.t", ["police"], "320571")
    police = as_user(client, "police.t", STRONG_PASSWORD) | {"X-Purpose": "registration"}
    person = SyntheticPeople(77).person()
    threads: list[tuple[str, int, str]] = []

    background = {"audit-sequencer", "registry-scheduler"}  # the service's own threads, not the request's

    def statement(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if threading.current_thread().name not in background:
            threads.append(("statement", threading.get_ident(), threading.current_thread().name))

    def commit(conn):  # type: ignore[no-untyped-def]
        if threading.current_thread().name not in background:
            threads.append(("commit", threading.get_ident(), threading.current_thread().name))

    def seen(answer):  # type: ignore[no-untyped-def]
        assert answer.status_code in (200, 201), answer.text
        kinds = [kind for kind, _, _ in threads]
        assert kinds.count("commit") == 1 and kinds.count("statement") >= 3, kinds
        assert len({ident for _, ident, _ in threads}) == 1, f"the request's work took more than one thread: {threads}"
        assert {name for _, _, name in threads} == {"AnyIO worker thread"}, "database work ran on the event loop"
        threads.clear()
        return answer.json()["id"]

    sa.event.listen(runtime.engine, "before_cursor_execute", statement)
    sa.event.listen(runtime.engine, "commit", commit)
    try:
        made = seen(
            client.post("/api/v1/persons", json={"id_number": person.id_number, "name": person.name}, headers=police)
        )
        seen(client.get(f"/api/v1/persons/{made}", headers=police))
    finally:
        sa.event.remove(runtime.engine, "before_cursor_execute", statement)
        sa.event.remove(runtime.engine, "commit", commit)


def test_an_included_router_keeps_the_includes_dependencies_and_overrides_are_refused_loudly():
    """An `api_router` attached with `include_router` (not the service's way, but FastAPI's
    usual one) runs the dependencies the include adds; a dependency override, which the
    resolver does not apply, fails the request instead of silently running the real one."""
    router = api_router(prefix="/t")

    def real() -> str:
        return "real"

    @router.get("/x")
    def shown(value: str = Depends(real)) -> str:
        return value

    def deny() -> None:
        raise HTTPException(403, "not you")

    guarded = FastAPI()
    guarded.include_router(router, prefix="/p", dependencies=[Depends(deny)])
    with TestClient(guarded) as client:
        assert client.get("/p/t/x").status_code == 403
    for attach in (lambda app: app.include_router(router), lambda app: install_routers(app, [router])):
        overridden = FastAPI()
        attach(overridden)
        overridden.dependency_overrides[real] = lambda: "fake"
        with TestClient(overridden) as client, pytest.raises(RuntimeError, match="dependency_overrides"):
            client.get("/t/x")
