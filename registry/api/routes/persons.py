"""Person routes. Personal values travel only in bodies, never in URLs; `X-Purpose` required."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Header, Response

from registry.access.policy import Permission as P
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.api.pagination import etag, parse_if_match
from registry.api.routing import api_router
from registry.context import Context
from registry.people import service
from registry.people.schemas import PersonCreate, PersonErase, PersonMatches, PersonRead, PersonSearch, PersonUpdate

router = api_router(prefix="/api/v1/persons", tags=["persons"])


async def purposeful_context(ctx: ContextDep, x_purpose: Annotated[str | None, Header()] = None) -> Context:
    """The caller's context with a declared purpose of use (400 when missing or not theirs)."""
    return replace(ctx, purpose=ctx.principal.declare(x_purpose))


PurposeContext = Annotated[Context, Depends(purposeful_context)]


@router.post(
    "", status_code=201, response_model=PersonRead, responses={409: {}, 422: {}}, openapi_extra=may(P.PERSON_WRITE)
)
def create_person(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, body: PersonCreate, response: Response
) -> PersonRead:
    person = service.create_person(session, ctx, runtime.keyring, data=body)
    values = service.created_person(session, ctx, runtime.keyring, person)
    response.headers["ETag"] = etag(person.version)
    return PersonRead(id=person.id, org_unit=person.org_unit_code, version=person.version, **values)


@router.get("/{person_id}", response_model=PersonRead, responses={404: {}, 410: {}}, openapi_extra=may(P.PERSON_READ))
def read_person(
    runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, person_id: uuid.UUID, response: Response
) -> PersonRead:
    person, values = service.read_person(session, ctx, runtime.keyring, person_id=person_id)
    response.headers["ETag"] = etag(person.version)
    return PersonRead(id=person.id, org_unit=person.org_unit_code, version=person.version, **values)


@router.patch(
    "/{person_id}",
    response_model=PersonRead,
    responses={404: {}, 410: {}, 412: {}, 428: {}},
    openapi_extra=may(P.PERSON_WRITE),
)
def update_person(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: PurposeContext,
    person_id: uuid.UUID,
    body: PersonUpdate,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> PersonRead:
    version = parse_if_match(if_match)
    service.update_person(session, ctx, runtime.keyring, person_id=person_id, data=body, if_match=version)
    person, values = service.read_person(session, ctx, runtime.keyring, person_id=person_id)
    response.headers["ETag"] = etag(person.version)
    return PersonRead(id=person.id, org_unit=person.org_unit_code, version=person.version, **values)


@router.post("/search", response_model=PersonMatches, openapi_extra=may(P.PERSON_SEARCH))
def search_persons(runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, body: PersonSearch) -> PersonMatches:
    return PersonMatches.model_validate({"items": service.search_persons(session, ctx, runtime.keyring, query=body)})


@router.post(
    "/{person_id}/erasure", status_code=204, responses={404: {}, 409: {}, 410: {}}, openapi_extra=may(P.RETENTION_RUN)
)
def erase_person(
    runtime: RuntimeDep, session: SessionDep, ctx: ContextDep, person_id: uuid.UUID, body: PersonErase
) -> None:
    """Crypto-shred the person's identity data (security_admin; no personal data returned)."""
    service.erase_person(session, ctx, runtime.keyring, person_id=person_id, reason=body.reason)
