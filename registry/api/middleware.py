"""ASGI middleware: request id, client address and access log, body limit, input guard
(NUL characters, JSON nesting), and the request transaction.

Pure ASGI (not BaseHTTPMiddleware) so the transaction commits before the first response
byte: a response is never sent for work that did not commit.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import ipaddress
import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry import idempotency
from registry.accounts.throttle import THROTTLED, LoginThrottle
from registry.api import metrics
from registry.api.problems import problem_body
from registry.logs import request_id_var

log = logging.getLogger("registry.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# JSON nested deeper than this is refused at the door: no record format comes near it, and
# Python's parser and pydantic recurse once per level (about 1,000 levels is a crash).
MAX_JSON_DEPTH = 64
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TARPIT_S = 1.0  # how long the door holds a refused login before it answers 429


def _problem_messages(
    status: int, slug: str, title: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> tuple[Message, Message]:
    body = json.dumps(problem_body(status, title, detail, slug=slug)).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class UnitOfWork:
    """One request, one transaction. Work that must outlive a failed request (a failed
    login's count, a denial's audit entry) is queued in `on_failure` and written after
    the rollback, in a transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._session: Session | None = None
        # The request body as received (for an Idempotency-Key's fingerprint), and the
        # key's record to write with this transaction's commit.
        self.body = hashlib.sha256()
        self.idempotency: idempotency.Pending | None = None
        self.on_failure: list[Callable[[Session], None]] = []
        # Work to start only once the request's transaction has committed (e.g. a job).
        self.after_commit: list[Callable[[], None]] = []
        self.finished = False

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(self._engine, expire_on_commit=False, autoflush=True)
        return self._session

    def finish(self, success: bool) -> None:
        self.finished = True
        session, self._session = self._session, None
        try:
            if session is not None:
                try:
                    if success:
                        session.commit()
                    else:
                        session.rollback()
                finally:
                    session.close()
        except BaseException:
            # The commit or rollback failed: what a failed request must leave on the record
            # does not depend on how it failed. Written if it can be; the error goes on.
            if self.on_failure:
                self._record_failure(raising=False)
            raise
        if success:
            self._after_commit()
        elif self.on_failure:
            self._record_failure(raising=True)

    def _after_commit(self) -> None:
        for work in self.after_commit:
            # The transaction has committed: a failure here must not turn the response
            # into "nothing was changed". The work itself records its failure.
            try:
                work()
            except Exception as exc:
                log.error("after-commit work failed", extra={"error": type(exc).__name__})

    def _record_failure(self, *, raising: bool) -> None:
        try:
            with Session(self._engine) as side:
                for work in self.on_failure:
                    work(side)
                side.commit()
        except Exception as exc:
            if raising:
                raise
            log.error("failure entries not written", extra={"error": type(exc).__name__})

    def settle(self, scope: Scope, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> bool:
        """The transaction ended by the request's answer, before any of it is sent: a
        success commits, with its Idempotency-Key's record naming where the record it
        created can be read; anything else rolls back. False when the commit failed or its
        outcome is unknown: then the answer must not be sent (`unstored`)."""
        success = status < 400
        if success and self.idempotency is not None:
            idempotency.record(self.session, self.idempotency, status=status, location=_location(scope, headers, body))
        try:
            self.finish(success)
        except Exception as exc:  # commit failed or its outcome is unknown: disclose nothing
            log.error("commit failed", extra={"error": type(exc).__name__})
            return False
        return True


# What a request whose commit failed answers in place of its own answer.
UNSTORED = (
    503,
    "unavailable",
    "Service unavailable",
    "the change may not have been stored: send it again with the same Idempotency-Key",
)


def unstored() -> tuple[Message, Message]:
    return _problem_messages(*UNSTORED)


class TransactionMiddleware:
    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app, self.engine = app, engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        uow = UnitOfWork(self.engine)
        scope.setdefault("state", {})["uow"] = uow
        replaced = False
        held: list[Message] = []  # a response whose Idempotency-Key is recorded with the commit

        async def receive_hashed() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                uow.body.update(message.get("body", b""))
            return message

        async def settle(status: int, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b"") -> bool:
            if await run_in_threadpool(uow.settle, scope, status, headers, body):
                return True
            for m in unstored():
                await send(m)
            return False

        async def send_after_commit(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            # A route's answer settles its transaction in the route's own thread
            # (`registry.api.dispatch`); here: every other answer (errors, streamed bodies).
            if message["type"] == "http.response.start" and not uow.finished:
                if uow.idempotency is not None and message["status"] < 400:
                    held.append(message)  # the body first: it names the record created
                    return
                replaced = not await settle(message["status"])
                if replaced:
                    return
            if held:
                held.append(message)
                if message.get("more_body", False):
                    return
                start, *body = held
                held.clear()
                content = b"".join(m.get("body", b"") for m in body)
                replaced = not await settle(start["status"], start.get("headers", ()), content)
                if replaced:
                    return
                for m in (start, *body):
                    await send(m)
                return
            await send(message)

        try:
            await self.app(scope, receive_hashed, send_after_commit)
        finally:
            if not uow.finished:
                await run_in_threadpool(uow.finish, False)


def _location(scope: Scope, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> str | None:
    """Where the record a write created can be read: its `Location`, else the collection's
    path and the body's `id` where a GET route answers it; None when there is none."""
    for name, value in headers:
        if name.lower() == b"location":
            return value.decode("latin-1")[:300]
    try:
        created = json.loads(body) if body else None
    except ValueError:
        return None
    if not isinstance(created, dict) or not isinstance(created.get("id"), str):
        return None
    path = f"{scope['path'].rstrip('/')}/{created['id']}"
    probe = {"type": "http", "path": path, "method": "GET"}
    if any(route.matches(probe)[0] is Match.FULL for route in scope["app"].router.routes):
        return path[:300]
    return None


class BodyTooLarge(HTTPException):
    """Raised from `receive` while streaming; an HTTPException so that FastAPI's body
    parsing passes it on (as 413) instead of calling it a parse error (400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the body exceeds {max_bytes} bytes")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = _problem_messages(
            413, "body-too-large", "Body too large", f"the body exceeds {self.max_bytes} bytes"
        )
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            for m in too_large:
                await send(m)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watch_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watch_send)
        except BodyTooLarge:
            if not started:
                for m in too_large:
                    await send(m)


# A NUL character is never part of a valid value, and PostgreSQL cannot store one in text
# (SQLite can): refusing it at the door keeps both engines answering alike.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM = b"application/x-www-form-urlencoded"
_MULTIPART = b"multipart/"
# A JSON string, or an unterminated one up to the end: every `"` starts a match, so removing
# strings is one linear pass whatever the body (no rescanning from each quote).
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (malformed JSON is the
    parser's to refuse). Counted without parsing: the parser is what must not recurse."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    steps = array.array("b", _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET).translate(_BRACKET_STEP))
    return max(itertools.accumulate(steps), default=0) > limit


def _is_json(scope: Scope) -> bool:
    """FastAPI parses a body as JSON when it declares no content type, too."""
    content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
    return not content_type.startswith((_FORM, _MULTIPART))


def _has_nul(scope: Scope, body: bytes) -> bool:
    if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
        return True
    if b"\x00" in body or _JSON_NUL.search(body):
        return True
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    return content_type.startswith(_FORM) and b"%00" in body


class InputGuardMiddleware:
    """400 for a NUL in the path, the query string or the body (raw, JSON-escaped or
    form-encoded), and for a JSON body nested deeper than MAX_JSON_DEPTH: once here for
    every route. The body is read whole first; BodyLimitMiddleware bounds it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client gone: pass the disconnect on
                return await self.app(scope, _replay([message], receive), send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _has_nul(scope, body):
            for m in _problem_messages(400, "invalid-input", "Invalid input", "the request contains a NUL character"):
                await send(m)
            return
        if body and _is_json(scope) and json_too_deep(body):
            detail = f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
            for m in _problem_messages(400, "invalid-input", "Invalid input", detail):
                await send(m)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def client_address(scope: Scope, trusted_proxies: Sequence[Network]) -> str | None:
    """The address the request came from. The peer's, unless the peer is a declared proxy:
    then the nearest address in X-Forwarded-For that is not one (proxies append, so what
    lies left of the last untrusted hop is the client's to invent)."""
    peer = scope.get("client")
    address = peer[0] if peer else None
    if not trusted_proxies or address is None or not _trusted(address, trusted_proxies):
        return address
    forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
    for hop in reversed(forwarded.decode("latin-1").split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # garbage in the chain: believe only the proxy itself
        address = hop
        if not _trusted(hop, trusted_proxies):
            break
    return address


def _trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


class LoginGateMiddleware:
    """429 at the door for a client the login throttle has already refused (and audited):
    a flood of guesses then costs a look-up each, not form parsing, the dependency graph
    and a worker thread, which the service's other requests need. The answer waits
    TARPIT_S first (a sleeping coroutine, no thread): a client looping on refusals would
    otherwise spin at hundreds a second, and even cheap refusals at that rate hold the
    event loop and the GIL that every other request waits on."""

    def __init__(self, app: ASGIApp, throttle: LoginThrottle, path: str = "/api/v1/auth/token") -> None:
        self.app, self.throttle, self.path = app, throttle, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            retry_after = self.throttle.refused_client(scope.get("state", {}).get("client_addr"))
            if retry_after is not None:
                await asyncio.sleep(TARPIT_S)
                headers = [(b"retry-after", str(retry_after).encode())]
                for m in _problem_messages(429, "too-many-requests", "Too many requests", THROTTLED, headers):
                    await send(m)
                return
        await self.app(scope, receive, send)


class RequestLogMiddleware:
    """The server's request id (sent back as X-Request-ID; a client's own X-Request-ID is
    kept beside it, never in its place), the client address (through declared proxies
    only), one JSON access-log line, Prometheus metrics. Routes are logged by template
    (`/api/v1/users/{account_id}`), never with query strings."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network] = ()) -> None:
        self.app, self.trusted_proxies = app, tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = uuid.uuid4().hex
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_request_id"] = offered if _REQUEST_ID.match(offered) else None
        state["client_addr"] = client_address(scope, self.trusted_proxies)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics.observe(scope["method"], template, status, elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                    "client_request_id": state["client_request_id"],
                },
            )
            request_id_var.reset(token)
