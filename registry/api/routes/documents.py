"""Printed documents (API.md Documents): one route per kind of `registry.documents.catalogue`,
made from the table, each answering `application/pdf`.

Every document of a record is a disclosure: it takes `X-Purpose` like a read of its record
and is audited (`document:print`) with the fields on the page; the access report is an
auditor's query (`audit:query`). The document id on every page is also in the
`X-Document-Id` header, and the audit log resolves it (`GET /audit/events?target=`). The
PDF is drawn while the body is sent, after the request's transaction committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Query, Response
from fastapi.responses import StreamingResponse

from registry.access.policy import Permission as P
from registry.api.contract import casefile_gate, may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.api.routes.audit import records_of
from registry.api.routes.persons import PurposeContext
from registry.api.routes.residence import PolicyDep
from registry.api.routing import api_router
from registry.context import Context
from registry.documents import service
from registry.documents.catalogue import DocumentKind, NoticeTo, Source, kinds_of
from registry.documents.service import Printed, Printing

router = api_router(prefix="/api/v1", tags=["documents"])

PDF: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The document (A4, its Chinese text in an embedded font); its id is in `X-Document-Id`.",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}, "example": "%PDF-1.3 …"}},
        "headers": {"X-Document-Id": {"description": "The id printed on every page", "schema": {"type": "string"}}},
    },
    400: {"description": "`X-Purpose` missing or not the role's (or a notice without `to`)"},
    403: {"description": "The role may not print this document"},
    404: {"description": "No such record in the caller's reach, or no such document for it"},
    409: {"description": "The record has not reached the step this document follows"},
}


def _printing(runtime) -> Printing:  # type: ignore[no-untyped-def]
    s = runtime.settings
    return Printing(font=s.document_font, timezone=s.alert_timezone, closing_days=s.document_closing_days)


def _pdf(printed: Printed) -> Response:
    def body() -> Iterator[bytes]:
        yield printed.draw()  # after the transaction committed (`service.Printed`)

    return StreamingResponse(
        body(),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{printed.filename}"',
            "X-Document-Id": str(printed.document_id),
            "Cache-Control": "no-store",  # personal data: never kept by a browser or a proxy
        },
    )


def _doc(kind: DocumentKind, who: str, gate: dict[str, Any]) -> dict[str, Any]:
    audited = (
        "Audited as `audit:query` naming the document id."
        if kind.source is Source.ACCESSES
        else "Audited as `document:print` with the fields printed (and `document:read` per record opened)."
    )
    return {
        "summary": kind.title,
        "description": f"{kind.summary}\n\n{who} {audited}",
        "responses": PDF,
        "response_class": Response,
        "operation_id": f"print_{kind.code.replace('-', '_')}",
        "openapi_extra": gate,
    }


def _permit_route(kind: DocumentKind) -> Callable[..., Response]:
    def print_document(
        runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, policy: PolicyDep, permit_id: uuid.UUID
    ) -> Response:
        return _pdf(
            service.print_permit_document(
                session, ctx, runtime.keyring, policy, _printing(runtime), kind=kind, permit_id=permit_id
            )
        )

    return print_document


def _casefile_route(kind: DocumentKind) -> Callable[..., Response]:
    def print_document(
        runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, casefile_id: uuid.UUID
    ) -> Response:
        return _print_casefile(runtime, session, ctx, kind, casefile_id, None)

    def print_notice(
        runtime: RuntimeDep,
        session: SessionDep,
        ctx: PurposeContext,
        casefile_id: uuid.UUID,
        to: Annotated[NoticeTo, Query(description="The recipient (社区矫正法 Art. 44)")],
    ) -> Response:
        return _print_casefile(runtime, session, ctx, kind, casefile_id, to)

    return print_notice if kind.code == "discharge-notice" else print_document


def _print_casefile(runtime, session, ctx: Context, kind, casefile_id, to) -> Response:  # type: ignore[no-untyped-def]
    return _pdf(
        service.print_casefile_document(
            session, ctx, runtime.keyring, _printing(runtime), kind=kind, casefile_id=casefile_id, to=to
        )
    )


def _leave_route(kind: DocumentKind) -> Callable[..., Response]:
    def print_document(runtime: RuntimeDep, session: SessionDep, ctx: PurposeContext, leave_id: uuid.UUID) -> Response:
        return _pdf(
            service.print_leave_document(
                session, ctx, runtime.keyring, _printing(runtime), kind=kind, leave_id=leave_id
            )
        )

    return print_document


def _access_route(kind: DocumentKind) -> Callable[..., Response]:
    def print_document(runtime: RuntimeDep, session: SessionDep, ctx: ContextDep, person_id: uuid.UUID) -> Response:
        def records(pid: uuid.UUID) -> list[str]:
            return [str(pid), *(str(r) for r in records_of(session, pid))]

        return _pdf(
            service.print_access_report(
                session, ctx, _printing(runtime), kind=kind, person_id=person_id, records_of=records
            )
        )

    return print_document


for _kind in kinds_of(Source.PERMIT):
    router.get(
        f"/residence-permits/{{permit_id}}/documents/{_kind.code}",
        **_doc(_kind, "Residence staff who take applications (`permit:apply`), in scope.", may(P.PERMIT_APPLY)),
    )(_permit_route(_kind))
for _kind in kinds_of(Source.CASEFILE):
    who = (
        "Staff of the file's agency (the kind's own permission) who open the file without a grant."
        if _kind.authority
        else "Whoever opens the file without a break-glass grant; each role sees its own fields."
    )
    gate = casefile_gate(assigned=not _kind.authority)
    router.get(f"/casefiles/{{casefile_id}}/documents/{_kind.code}", **_doc(_kind, who, gate))(_casefile_route(_kind))
for _kind in kinds_of(Source.LEAVE):
    router.get(
        f"/leave-requests/{{leave_id}}/documents/{_kind.code}",
        **_doc(_kind, "Correction staff who open the leave's file without a grant.", may(P.CASEFILE_CORRECTION)),
    )(_leave_route(_kind))
for _kind in kinds_of(Source.ACCESSES):
    router.get(
        f"/audit/persons/{{person_id}}/documents/{_kind.code}",
        **_doc(_kind, "Auditors (`audit:read`).", may(P.AUDIT_READ)),
    )(_access_route(_kind))
