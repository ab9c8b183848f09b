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


def see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def form_text(value: object) -> str | None:
    """A form field as text (an uploaded file is not)."""
    return value if isinstance(value, str) else None


def permitted(who: dict[str, Any], permission: str) -> bool:
    return permission in who.get("permissions", ())
