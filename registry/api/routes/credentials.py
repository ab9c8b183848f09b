"""Permit credentials (issue 17): issued at the service point as an SD-JWT VC with a QR of
what the holder chose to show, and the public material a partner verifies them with
offline: the issuer's keys and the status list. Neither public answer names anyone."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import datetime
from importlib import resources
from typing import Annotated, Literal

import segno
from fastapi import Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from registry.access.policy import Permission as P
from registry.api.contract import may
from registry.api.deps import RuntimeDep, SessionDep
from registry.api.routes.persons import PurposeContext
from registry.api.routes.residence import PolicyDep
from registry.api.routing import api_router
from registry.credentials import keys, status
from registry.credentials.issue import DISCLOSABLE, issue_permit_credential
from registry.errors import NotFound

router = api_router(tags=["residence"])

Disclosable = Literal["name", "id_number", "resident_since_year", "permit_no"]
assert set(Disclosable.__args__) == set(DISCLOSABLE)  # type: ignore[attr-defined]


class CredentialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disclose: Annotated[list[Disclosable], Field(max_length=4)] = Field(
        default_factory=list,
        description="What the QR shows besides the city and validity, as the holder chooses.",
        examples=[["resident_since_year"]],
    )


class CredentialIssued(BaseModel):
    credential: str = Field(description="The SD-JWT VC with every disclosure: the holder's own copy.")
    presentation: str = Field(description="The signed part with the chosen disclosures only: what the QR carries.")
    qr_png: str = Field(description="The presentation as a QR code: a PNG image, base64.")
    status_index: int
    kid: str
    expires_at: datetime


@router.post(
    "/api/v1/residence-permits/{permit_id}/credentials",
    status_code=201,
    response_model=CredentialIssued,
    responses={409: {}},
    openapi_extra=may(P.PERMIT_APPLY),
)
def issue_credential(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    policy: PolicyDep,
    permit_id: uuid.UUID,
    body: CredentialRequest,
) -> CredentialIssued:
    """The permit in the holder's hand: an offline-verifiable credential of a permit in force."""
    issued = issue_permit_credential(
        session,
        ctx,
        runtime.keyring,
        policy,
        permit_id=permit_id,
        disclose_now=tuple(dict.fromkeys(body.disclose)),
        issuer=runtime.settings.credential_issuer,
    )
    png = io.BytesIO()
    segno.make(issued.presentation, error="m").save(png, kind="png", scale=4, border=4)
    return CredentialIssued(
        credential=issued.credential,
        presentation=issued.presentation,
        qr_png=base64.b64encode(png.getvalue()).decode("ascii"),
        status_index=issued.status_index,
        kid=issued.kid,
        expires_at=issued.expires_at,
    )


_STATIC = resources.files("registry.credentials") / "static"
_PAGE_HEADERS = {
    # The page's own files only: no inline script, nothing from another host, never framed.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "style-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_FILES = {"verify.js": "text/javascript", "verify-page.js": "text/javascript"}


@router.get("/verify", include_in_schema=False)
def verify_page() -> HTMLResponse:
    """The offline verifier for a browser: checks a pasted credential with WebCrypto."""
    return HTMLResponse((_STATIC / "verify.html").read_text(encoding="utf-8"), headers=_PAGE_HEADERS)


@router.get("/verify/{name}", include_in_schema=False)
def verify_script(name: str) -> Response:
    if name not in _FILES:
        raise NotFound("no such file")
    text = (_STATIC / name).read_text(encoding="utf-8")
    return Response(text, media_type=_FILES[name], headers=_PAGE_HEADERS)


@router.get("/.well-known/jwt-vc-issuer", tags=["health"])
def issuer_metadata(runtime: RuntimeDep, session: SessionDep) -> dict[str, object]:
    """The issuer and its keys (SD-JWT VC issuer metadata): a verifier's only key material."""
    now = runtime.clock.now()
    published = keys.published(session, runtime.keyring, now=now)
    return {"issuer": runtime.settings.credential_issuer, "jwks": {"keys": published}}


@router.get(
    f"/credentials/status-lists/{status.LIST_ID}",
    tags=["health"],
    response_class=Response,
    responses={200: {"content": {"application/statuslist+jwt": {}}}, 404: {}},
)
def status_list(session: SessionDep) -> Response:
    """The signed status list (IETF Token Status List), as last published."""
    token = status.current(session)
    if token is None:
        raise NotFound("no credential has been issued yet")
    return Response(token, media_type="application/statuslist+jwt", headers={"Cache-Control": "max-age=300"})
