"""How an API route answers a request: its dependencies, its endpoint and the answer's
validation in one hop to the thread pool.

FastAPI resolves a route's dependency graph on the event loop, node by node, at every
request (a cache key, generator and coroutine checks and four parameter passes per node:
a fifth of a registration read's interpreter time), and runs each plain-`def` dependency
and the endpoint in the thread pool, one hand-over of the interpreter each way per hop.
Here a route's graph is read once, when the route is made (`Resolver`), and at each request
the whole of it runs in one worker thread, in FastAPI's order and with FastAPI's own
parameter validation: sub-dependencies depth first, each called only if its parameters were
valid, then the node's path, query, header and cookie parameters and its body. So a
dependency that refuses (a dead token's 401) still answers before a malformed body's 422,
and a refused request names all its invalid fields at once, as before.

What the service's routes use is what is supported; anything else (a dependency with
`yield`, OAuth scopes, background tasks, a streamed answer) is refused when the route is
made, not met at a request. A coroutine dependency is run to its end in the worker thread:
it must not await (`_run_to_end` refuses one that does).
"""

from __future__ import annotations

import email.message
import inspect
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import params
from fastapi._compat import ModelField
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.utils import is_body_allowed_for_status_code
from pydantic_core import PydanticUndefined as Undefined
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from registry.api.middleware import UnitOfWork, unstored

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
log = logging.getLogger("registry.access")


def _run_to_end(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """A coroutine that never awaits, run here and now (in the worker thread)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a dependency of an API route awaited: it cannot run in the worker thread")


@dataclass(frozen=True, slots=True)
class _Node:
    """One dependant of a route's graph, as FastAPI built it."""

    name: str | None
    call: Callable[..., Any]
    is_coroutine: bool
    use_cache: bool
    subs: tuple[_Node, ...]
    params: tuple[tuple[str, tuple[ModelField, ...]], ...]  # (request attribute, fields), in FastAPI's order
    body: tuple[ModelField, ...]
    request_names: tuple[str, ...]  # the parameters that take the request itself
    response_name: str | None


# A dependant's parameter lists, in FastAPI's order, and the request attribute each reads.
_PARAM_SOURCES = {
    "path_params": "path_params",
    "query_params": "query_params",
    "header_params": "headers",
    "cookie_params": "cookies",
}
_UNSUPPORTED = (
    "websocket_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
    "own_oauth_scopes",
    "parent_oauth_scopes",
    "concurrency",
)


class Unsupported(TypeError):
    """What a route asks of FastAPI that the resolver does not do: refused when the route is
    made, never met at a request."""


def _node(dependant: Dependant, where: str) -> _Node:
    call = dependant.call
    if call is None:
        raise Unsupported(f"{where}: a dependency without a callable")
    for attribute in _UNSUPPORTED:
        if getattr(dependant, attribute):
            raise Unsupported(f"{where}: {attribute} is not supported on an API route")
    unwrapped = inspect.unwrap(call)
    dunder = inspect.getattr_static(type(call), "__call__", None)
    if any(inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f) for f in (call, unwrapped, dunder)):
        raise Unsupported(f"{where}: a dependency with yield is not supported on an API route")
    if any(isinstance(f.field_info, params.File) for f in dependant.body_params):
        raise Unsupported(f"{where}: a file upload is read by awaiting, which the worker thread cannot")
    is_coroutine = any(inspect.iscoroutinefunction(f) for f in (call, unwrapped, dunder) if f is not None)
    return _Node(
        name=dependant.name,
        call=call,
        is_coroutine=is_coroutine,
        use_cache=dependant.use_cache,
        subs=tuple(_node(sub, f"{where} → {sub.name}") for sub in dependant.dependencies),
        params=tuple(
            (source, tuple(getattr(dependant, kind)))
            for kind, source in _PARAM_SOURCES.items()
            if getattr(dependant, kind)
        ),
        body=tuple(dependant.body_params),
        request_names=tuple(
            n for n in (dependant.request_param_name, dependant.http_connection_param_name) if n is not None
        ),
        response_name=dependant.response_param_name,
    )


@dataclass(slots=True)
class _Solving:
    """One request's resolution: what it was given and what it has solved so far."""

    request: Request
    body: Any
    response: Response
    embed_body_fields: bool
    cache: dict[Callable[..., Any], Any] = field(default_factory=dict)


def _solve(node: _Node, solving: _Solving) -> tuple[dict[str, Any], list[Any]]:
    """FastAPI's `solve_dependencies` for one node, without the event loop."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for sub in node.subs:
        sub_values, sub_errors = _solve(sub, solving)
        if sub_errors:
            errors.extend(sub_errors)
            continue
        if sub.use_cache and sub.call in solving.cache:
            solved = solving.cache[sub.call]
        else:
            solved = sub.call(**sub_values)
            if sub.is_coroutine:
                solved = _run_to_end(solved)
            solving.cache.setdefault(sub.call, solved)
        if sub.name is not None:
            values[sub.name] = solved
    for source, fields in node.params:  # read from the request only where a node asks
        found, wrong = request_params_to_args(fields, getattr(solving.request, source))
        values.update(found)
        errors.extend(wrong)
    if node.body:
        found, wrong = _run_to_end(
            request_body_to_args(
                body_fields=list(node.body), received_body=solving.body, embed_body_fields=solving.embed_body_fields
            )
        )
        values.update(found)
        errors.extend(wrong)
    for name in node.request_names:
        values[name] = solving.request
    if node.response_name is not None:
        values[node.response_name] = solving.response
    return values, errors


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def _read_body(request: Request, body_field: ModelField | None, strict_content_type: bool) -> Any:
    """The body as FastAPI's handler reads it: a form for a form route, JSON when the
    content type says JSON, else the bytes; nothing when the route takes no body."""
    if body_field is None:
        return Undefined
    try:
        if isinstance(body_field.field_info, params.Form):
            return await request.form()
        raw = await request.body()
        if not raw:
            return Undefined
        content_type = request.headers.get("content-type")
        if (content_type is None and not strict_content_type) or (content_type and _is_json(content_type)):
            return await request.json()
        return raw
    except json.JSONDecodeError as e:
        invalid = {"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**invalid, "ctx": {"error": e.msg}}], body=e.doc) from e
    except HTTPException:
        raise
    except Exception as e:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from e


async def _close(form: FormData) -> None:
    """After the answer, which may have committed: a failure here must not turn it into an
    error (the work is done), so it is only logged."""
    try:
        await form.close()
    except Exception as exc:
        log.error("closing a form body failed", extra={"error": type(exc).__name__})


def _text(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers if name != b"content-length"}


class Resolver:
    """One route's request handler (see the module's docstring). `route`: the `APIRoute`, or
    the context FastAPI makes of it when a router is included (its prefix and the include's
    dependencies in the graph)."""

    def __init__(self, route: Any) -> None:
        if route.is_json_stream or route.stream_item_field is not None:
            raise Unsupported(f"{route.path}: a streamed answer is not supported on an API route")
        self.root = _node(route.dependant, route.path)
        if self.root.is_coroutine:
            raise Unsupported(f"{route.path}: an API endpoint is a plain def (it runs in the thread pool)")
        self.route = route
        response_class = route.response_class
        self.default_class = isinstance(response_class, DefaultPlaceholder)
        self.response_class: type[Response] = (
            response_class.value if isinstance(response_class, DefaultPlaceholder) else response_class
        )
        strict = route.strict_content_type
        self.strict_content_type: bool = strict.value if isinstance(strict, DefaultPlaceholder) else strict

    def handler(self) -> Handler:
        async def answer(request: Request) -> Response:
            if getattr(request.app, "dependency_overrides", None):
                # Silently running the real dependency would be worse than failing.
                raise RuntimeError("dependency_overrides are not applied on API routes")
            body = await _read_body(request, self.route.body_field, self.strict_content_type)
            try:
                return await run_in_threadpool(self.respond, request, body)
            finally:
                if isinstance(body, FormData):
                    await _close(body)

        return answer

    def respond(self, request: Request, body: Any) -> Response:
        """In the worker thread: the graph, the endpoint, the answer validated and encoded,
        and the request's transaction settled by it (`UnitOfWork.settle`: committed before
        the first byte of a success is sent, or the success replaced by a 503)."""
        answer = self._answer(request, body)
        uow: UnitOfWork | None = request.scope.get("state", {}).get("uow")
        content = getattr(answer, "body", None)  # a streamed answer settles as it starts
        if uow is None or uow.finished or not isinstance(content, bytes):
            return answer
        if uow.settle(request.scope, answer.status_code, answer.raw_headers, content):
            return answer
        start, message = unstored()
        return Response(message["body"], status_code=start["status"], headers=_text(start["headers"]))

    def _answer(self, request: Request, body: Any) -> Response:
        route = self.route
        response = Response()
        del response.headers["content-length"]
        response.status_code = None  # type: ignore[assignment]
        solving = _Solving(request, body, response, route._embed_body_fields)
        values, errors = _solve(self.root, solving)
        if errors:
            raise RequestValidationError(errors, body=None if body is Undefined else body)
        raw = self.root.call(**values)
        if isinstance(raw, Response):
            return raw
        status = response.status_code or route.status_code
        args: dict[str, Any] = {} if status is None else {"status_code": status}
        answer: Response
        field_ = route.response_field
        if field_ is not None:
            value, wrong = field_.validate(raw, {}, loc=("response",))
            if wrong:
                raise ResponseValidationError(errors=wrong, body=raw)
            if self.default_class:  # straight to JSON bytes, as FastAPI does
                answer = Response(self._dump(field_.serialize_json, value), media_type="application/json", **args)
            else:
                answer = self.response_class(self._dump(field_.serialize, value), **args)
        else:
            answer = self.response_class(jsonable_encoder(raw), **args)
        if not is_body_allowed_for_status_code(answer.status_code):
            answer.body = b""
        answer.headers.raw.extend(response.headers.raw)
        return answer

    def _dump(self, serializer: Callable[..., Any], value: Any) -> Any:
        route = self.route
        return serializer(
            value,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
