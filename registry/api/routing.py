"""The one kind of route every API router makes (`api_router`), and how the app takes them
(`install_routers`).

An `OffLoopRoute` answers through `registry.api.dispatch.Resolver`: its dependencies, its
`def` endpoint and the answer's validation run in one hop to the thread pool, off the event
loop (its blocking database work never stalls other requests), where FastAPI's own handler
takes a hop per plain-`def` dependency and one for the endpoint, and resolves the graph on
the loop node by node. Parameters, OpenAPI and the order of refusals are FastAPI's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, _effective_route_context_var

from registry.api.dispatch import Handler, Resolver


class OffLoopRoute(APIRoute):
    """An API route answered in one worker-thread hop (see the module's docstring)."""

    def get_route_handler(self) -> Handler:
        # Included through `include_router`, FastAPI hands the route's included form (its
        # prefix and the include's dependencies) in this variable, as its own
        # `get_route_handler` reads it.
        included = _effective_route_context_var.get()
        return Resolver(included if included is not None and included.original_route is self else self).handler()


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route functions' names (unique): what a generated client calls."""
    return route.name


def api_router(**kwargs: Any) -> APIRouter:
    """An `APIRouter` of `OffLoopRoute`s: what every router of the service is made with. Its
    routes are complete as made (prefix, tags, operation id), so `install_routers` can hand
    them to the app as they are."""
    return APIRouter(route_class=OffLoopRoute, generate_unique_id_function=operation_id, **kwargs)


def install_routers(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Each router's routes onto the app's own list, in order. FastAPI's `include_router`
    keeps a router as one entry, which a request matches route by route twice (to choose the
    router, then to dispatch in it), after every router before it: 13 % of the interpreter's
    time on a registration read. Matched here once, as routes declared on the app are.

    What an include would also do, and this does not: re-read a router's routes later (all
    are declared at import) and merge a router's lifecycle (none has one: checked).
    `app.dependency_overrides` are not applied by the routes' resolver: a request to an app
    that sets one fails, rather than silently running the real dependency."""
    default_lifespan = type(APIRouter().lifespan_context)
    for router in routers:
        assert not (router.on_startup or router.on_shutdown), "a router's lifecycle hooks need include_router"
        assert type(router.lifespan_context) is default_lifespan, "a router's lifespan needs include_router"
        for route in router.routes:
            assert isinstance(route, OffLoopRoute), "not from api_router"
            assert route.unique_id == (route.operation_id or operation_id(route)), "not from api_router"
        app.router.routes.extend(router.routes)
