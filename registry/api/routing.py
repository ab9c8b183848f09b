"""The one kind of route every API router makes (`api_router`), and how the app takes them
(`install_routers`).

FastAPI runs a plain `def` endpoint in the thread pool, and then, because the endpoint was
not a coroutine, validates its return value in the thread pool again: two hops per request,
each a hand-over of the interpreter between threads (with the principal's dependency and the
commit, four). Here a `def` endpoint is given to FastAPI as a coroutine that runs it in the
thread pool, so its answer is validated where it arrives, on the event loop: one hop fewer on
every request, the endpoint itself unchanged (still off the loop, its blocking database work
never stalls other requests).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


def _off_the_loop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` as a coroutine function that runs it in the thread pool. `functools.wraps`
    keeps its signature, annotations and module: FastAPI reads the parameters through
    `__wrapped__`, so dependencies, validation and the OpenAPI document are the endpoint's."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        # A partial: the endpoint's own parameters never meet `run_in_threadpool`'s.
        return await run_in_threadpool(functools.partial(endpoint, *args, **kwargs))

    return run


def _blocking(endpoint: Callable[..., Any]) -> bool:
    """A plain `def`, as FastAPI would call it (not unwrapped: a coroutine decorating a `def`
    is a coroutine)."""
    return not (
        inspect.iscoroutinefunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
        or inspect.isasyncgenfunction(endpoint)
    )


class OffLoopRoute(APIRoute):
    """An API route whose `def` endpoint runs in the thread pool with its answer validated on
    the event loop (see the module's docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _off_the_loop(endpoint) if _blocking(endpoint) else endpoint, **kwargs)


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
    are declared at import), merge a router's lifecycle (none has one: checked), and send a
    route's dependencies through `app.dependency_overrides` (a route keeps its router's,
    which is none: the service and its tests override nothing)."""
    default_lifespan = type(APIRouter().lifespan_context)
    for router in routers:
        assert not (router.on_startup or router.on_shutdown), "a router's lifecycle hooks need include_router"
        assert type(router.lifespan_context) is default_lifespan, "a router's lifespan needs include_router"
        for route in router.routes:
            assert isinstance(route, OffLoopRoute), "not from api_router"
            assert route.unique_id == (route.operation_id or operation_id(route)), "not from api_router"
        app.router.routes.extend(router.routes)
