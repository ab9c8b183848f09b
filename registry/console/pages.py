"""How a console page is declared and drawn: its route, the API operations it calls (the
whole of what it does, `api.CALLS`), the template and the words of the signed-in user's
language. Pages are small functions in `audit_pages`, `admin_pages`, `security_pages`."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from registry.console import i18n, session
from registry.console.api import CALLS, Answer, Api

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=str(resources.files("registry.console") / "templates"))
ME = "GET /api/v1/auth/me"  # every signed-in page draws its menu from who is signed in


def page(method: str, path: str, *calls: str, signed_in: bool = True) -> Callable[[Callable[..., Any]], Any]:
    """Declare a console route and every API operation it may call."""

    def declare(view: Callable[..., Any]) -> Any:
        CALLS[f"{method} {router.prefix}{path}"] = (*calls, *((ME,) if signed_in else ()))
        return router.api_route(path, methods=[method], name=f"console_{view.__name__}")(view)

    return declare


def api(request: Request) -> Api:
    return Api(request, session.token(request))


async def me(client: Api) -> dict[str, Any]:
    answer = await client.get("/api/v1/auth/me")
    if not answer.ok:
        raise RuntimeError(f"/auth/me answered {answer.status}")
    me: dict[str, Any] = answer.body
    return me


async def render(request: Request, client: Api, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A signed-in page: the menu is the user's, words in the user's language."""
    who = await me(client)
    return draw(request, template, status, me=who, **context)


def draw(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    language = i18n.language(request)
    words = {
        "t": i18n.translator(language),
        "lang": language,
        "csrf": session.csrf_token(request),
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, template, {**words, **context}, status_code=status)


async def failed(request: Request, client: Api, answer: Answer) -> HTMLResponse:
    """The API said no (403, 404, 409, 422...): its problem detail, with its status."""
    return await render(request, client, "problem.html", status=answer.status, problem=answer.problem)


PAGE = 50  # rows a listing page asks the API for


async def shown(
    request: Request,
    path: str,
    template: str,
    *,
    params: dict[str, Any] | None = None,
    name: str = "page",
    **context: Any,
) -> Response:
    """The usual page: one API read (paged when `params` asks for a cursor), drawn; a
    refusal shown with its status."""
    session.require(request)
    client = api(request)
    answer = await client.get(path, **(params or {}))
    if not answer.ok:
        return await failed(request, client, answer)
    return await render(request, client, template, **{name: answer.body}, **context)


def paged(request: Request, **params: Any) -> dict[str, Any]:
    """A listing's query: the page's own filters, the cursor the page was given."""
    return {**params, "cursor": request.query_params.get("cursor"), "limit": PAGE}


async def form_of(request: Request) -> dict[str, Any]:
    """A posted form, after its CSRF token: single fields as text, `roles` as a list."""
    form = await request.form()
    session.check_form(request, form_text(form.get("csrf")))
    values: dict[str, Any] = {k: form_text(v) for k, v in form.items() if k != "roles"}
    values["roles"] = [r for r in form.getlist("roles") if isinstance(r, str)]
    return values


async def posted(
    request: Request, path: str, then: Callable[[Answer], str], body: Callable[[dict[str, Any]], Any] | None = None
) -> Response:
    """The usual form: the session's CSRF token checked, one API write of `body(form)`, then
    on to `then(answer)`; a refusal shown with its status."""
    session.require(request)
    values = await form_of(request)
    client = api(request)
    answer = await client.post(path, json=body(values) if body is not None else None)
    if not answer.ok:
        return await failed(request, client, answer)
    return see_other(then(answer))


def see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def form_text(value: object) -> str | None:
    """A form field as text (an uploaded file is not)."""
    return value if isinstance(value, str) else None


def permitted(who: dict[str, Any], permission: str) -> bool:
    return permission in who.get("permissions", ())
