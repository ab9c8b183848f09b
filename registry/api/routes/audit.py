"""Auditor routes: events, checkpoint, proofs, per-person access report, alerts.
Auditors see ids and metadata only; every query is itself audited."""

from __future__ import annotations

import base64
import re
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from sqlmodel import select

from registry.access.policy import Permission
from registry.access.policy import Permission as P
from registry.accounts import staff
from registry.accounts.schemas import Page
from registry.api.contract import may
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, page_by_key
from registry.api.routing import api_router
from registry.audit import canonical, checkpoints, proofs, reports, reviews
from registry.audit import epochs as epochs_
from registry.audit.actions import Action
from registry.audit.merkle import leaf_hash
from registry.audit.models import AuditCheckpoint
from registry.casefiles.models import Casefile
from registry.context import Context
from registry.errors import BadRequest, NotFound
from registry.residence.models import Permit, Registration

router = api_router(prefix="/api/v1/audit", tags=["audit"])


def _written_as_a_date(value: object) -> object:
    """A time or day as RFC 3339 writes it, never a number (pydantic would read one as Unix time)."""
    if isinstance(value, str) and not re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("not an RFC 3339 date or time")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_written_as_a_date)]
IsoDate = Annotated[date, BeforeValidator(_written_as_a_date)]


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


class AuditEntryRead(BaseModel):
    id: int
    seq: int | None = Field(description="Position in the Merkle log; null until sequenced (within seconds).")
    at: datetime
    actor_id: str | None
    actor_roles: list[str]
    actor_org_unit: str | None
    action: str
    targets: list[str]
    fields: list[str]
    search_token: str | None
    purpose: str | None
    break_glass_grant: str | None
    outcome: str
    reason: str | None
    request_id: str | None = Field(description="The server's id of the request (its X-Request-ID answer).")
    client_addr: str | None
    client_request_id: str | None = Field(default=None, description="The X-Request-ID the client sent, if any.")


class StaffRead(BaseModel):
    """Who an entry's actor is: staff identities are an auditor's to resolve (never a resident's)."""

    username: str
    display_name: str
    kind: str
    org_unit: str | None


class EventPage(BaseModel):
    items: list[AuditEntryRead]
    next_cursor: str | None
    actors: dict[str, StaffRead] = Field(default_factory=dict, description="The page's actors by account id.")


class AuditEntryDetail(AuditEntryRead):
    canonical: str = Field(description="The entry's leaf data (base64): the bytes its Merkle leaf hashes.")
    leaf_hash: str
    actor: StaffRead | None


class CheckpointRead(BaseModel):
    origin: str
    size: int
    root_hash: str
    timestamp: int
    signature: str
    key_id: str
    note: str


class InclusionProof(BaseModel):
    seq: int
    size: int
    leaf_hash: str
    hashes: list[str]


class ConsistencyProof(BaseModel):
    from_: int = Field(alias="from", serialization_alias="from")
    to: int
    hashes: list[str]


class AccessRead(BaseModel):
    id: int
    actor_id: str | None
    actor_roles: list[str]
    org_unit: str | None
    at: datetime
    action: str
    targets: list[str]
    fields: list[str]
    purpose: str | None
    break_glass_grant: str | None
    outcome: str
    reason: str | None


class AccessPage(BaseModel):
    items: list[AccessRead]
    next_cursor: str | None
    actors: dict[str, StaffRead] = Field(default_factory=dict, description="The page's actors by account id.")


class AlertRead(BaseModel):
    kind: str
    actor_id: str | None
    at: datetime
    count: int
    entry_ids: list[int]


def _audited(session: SessionDep, ctx: Context, *targets: str) -> None:
    ctx.principal.require(Permission.AUDIT_READ)
    ctx.audit.append(session, ctx.event(Action.AUDIT_QUERY, targets=targets))


@router.get("/events", response_model=EventPage, openapi_extra=may(P.AUDIT_READ))
def list_audit_events(
    session: SessionDep,
    ctx: ContextDep,
    actor: Annotated[str | None, Query(description="An account id or a username.", max_length=64)] = None,
    unit: Annotated[
        str | None, Query(description="The actor's org unit and the units under it.", max_length=15)
    ] = None,
    target: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    purpose: Annotated[str | None, Query(max_length=64)] = None,
    # With their offset (RFC 3339): a time without one is ambiguous, a 422, never a guess.
    since: Rfc3339 | None = None,
    until: Rfc3339 | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> EventPage:
    _audited(session, ctx)
    after = decode_cursor(cursor)
    if after is not None and not after.isdigit():
        raise BadRequest("cursor is not valid")
    filters = reports.EventFilter(
        actor=staff.account_id_of(session, actor) if actor is not None else None,
        units=staff.subtree_codes(session, unit) if unit is not None else None,
        target=target,
        action=action,
        outcome=outcome,
        purpose=purpose,
        since=since,
        until=until,
    )
    rows = reports.events(session, filters, after_id=int(after) if after else None, limit=limit + 1)
    items = [AuditEntryRead(seq=seq, **entry.model_dump()) for entry, seq in rows[:limit]]
    return EventPage(
        items=items,
        next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None,
        actors=_actors(session, items),
    )


def _actors(session: SessionDep, items: list[AuditEntryRead] | list[AccessRead]) -> dict[str, StaffRead]:
    found = staff.identities(session, {i.actor_id for i in items if i.actor_id is not None})
    return {key: StaffRead(**value._asdict()) for key, value in found.items()}


@router.get("/events/{entry_id}", response_model=AuditEntryDetail, openapi_extra=may(P.AUDIT_READ))
def get_audit_event(session: SessionDep, ctx: ContextDep, entry_id: Annotated[int, Path(ge=1)]) -> AuditEntryDetail:
    """One entry with the bytes its leaf hashes, so a verifier computes the leaf itself."""
    _audited(session, ctx, str(entry_id))
    entry, seq = reports.entry(session, entry_id)
    data = canonical.entry_bytes(entry)
    read = AuditEntryRead(seq=seq, **entry.model_dump())
    actor = _actors(session, [read]).get(read.actor_id or "")
    return AuditEntryDetail(**read.model_dump(), canonical=b64(data), leaf_hash=b64(leaf_hash(data)), actor=actor)


@router.get("/checkpoint", response_model=CheckpointRead, openapi_extra=may(P.AUDIT_READ))
def checkpoint(runtime: RuntimeDep, session: SessionDep, ctx: ContextDep) -> CheckpointRead:
    _audited(session, ctx)
    row = proofs.latest_checkpoint(session)
    signature_line = row.note.rstrip("\n").rsplit("\n", 1)[-1]
    return CheckpointRead(
        origin=runtime.settings.audit_origin,
        size=row.size,
        root_hash=b64(row.root_hash),
        timestamp=row.timestamp,
        signature=signature_line.rsplit(" ", 1)[-1],
        key_id=row.key_id,
        note=row.note,
    )


class VerifierKeyRead(BaseModel):
    origin: str
    vkey: str = Field(
        description="The signed-note verifier key `<origin>+<key hash>+<base64(0x01 ‖ Ed25519 key)>` that "
        "checks every checkpoint note (golang.org/x/mod/sumdb/note `NewVerifier`)."
    )


@router.get("/verifier-key", response_model=VerifierKeyRead, openapi_extra=may(P.AUDIT_READ))
def verifier_key(runtime: RuntimeDep, session: SessionDep, ctx: ContextDep) -> VerifierKeyRead:
    """The key an auditor or witness checks checkpoint notes with, without the key file."""
    _audited(session, ctx)
    origin = runtime.settings.audit_origin
    return VerifierKeyRead(origin=origin, vkey=checkpoints.verifier_key(origin, runtime.provider.public_key()))


@router.get("/proofs/inclusion", response_model=InclusionProof, openapi_extra=may(P.AUDIT_READ))
def inclusion_proof(
    session: SessionDep, ctx: ContextDep, seq: Annotated[int, Query(ge=0)], size: Annotated[int, Query(ge=1)]
) -> InclusionProof:
    _audited(session, ctx)
    leaf, hashes = proofs.inclusion(session, seq=seq, size=size)
    return InclusionProof(seq=seq, size=size, leaf_hash=b64(leaf), hashes=[b64(h) for h in hashes])


@router.get("/proofs/consistency", response_model=ConsistencyProof, openapi_extra=may(P.AUDIT_READ))
def consistency_proof(
    session: SessionDep,
    ctx: ContextDep,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int, Query(ge=1)],
) -> ConsistencyProof:
    _audited(session, ctx)
    hashes = proofs.consistency(session, old_size=from_, new_size=to)
    return ConsistencyProof(**{"from": from_}, to=to, hashes=[b64(h) for h in hashes])


@router.get("/persons/{person_id}/accesses", response_model=AccessPage, openapi_extra=may(P.AUDIT_READ))
def person_accesses(
    session: SessionDep,
    ctx: ContextDep,
    person_id: uuid.UUID,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> AccessPage:
    """Who accessed this person's identity, residence records and casefiles, from which
    org unit, when, what and why: newest first, paged."""
    _audited(session, ctx, str(person_id))
    before = decode_cursor(cursor)
    if before is not None and not before.isdigit():
        raise BadRequest("cursor is not valid")
    records = [str(person_id), *(str(r) for r in records_of(session, person_id))]
    rows = reports.accesses_to(session, records, before_id=int(before) if before else None, limit=limit + 1)
    items = [
        AccessRead(
            id=e.id,
            actor_id=e.actor_id,
            actor_roles=e.actor_roles,
            org_unit=e.actor_org_unit,
            at=e.at,
            action=e.action,
            targets=e.targets,
            fields=e.fields,
            purpose=e.purpose,
            break_glass_grant=e.break_glass_grant,
            outcome=e.outcome,
            reason=e.reason,
        )
        for e in rows[:limit]
    ]
    return AccessPage(
        items=items,
        next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None,
        actors=_actors(session, items),
    )


def records_of(session: SessionDep, person_id: uuid.UUID) -> list[uuid.UUID]:
    """The person's own records (ids only): entries that name a record, not the person,
    belong in the report too (an older entry, a transfer, a closure)."""
    found: list[uuid.UUID] = []
    for model in (Registration, Permit, Casefile):
        found += session.exec(select(model.id).where(model.person_id == person_id)).all()  # type: ignore[attr-defined]
    return found


AlertKind = Literal["break_glass", "denial_burst", "heavy_reader", "out_of_hours", "account_change_read", "integrity"]


class AlertGroupRead(BaseModel):
    """Alerts of one kind by one actor on one day (the alert time zone's): ten weekend
    reads are one line to look at, with the ten alerts behind it."""

    kind: str
    actor_id: str | None
    day: date
    alerts: int
    entries: int = Field(description="How many entries the alerts name (a burst names all of its denials).")
    first_at: datetime
    last_at: datetime


class AlertGroupPage(BaseModel):
    items: list[AlertGroupRead]
    next_cursor: str | None
    actors: dict[str, StaffRead] = Field(default_factory=dict, description="The page's actors by account id.")


def _alerts(runtime: RuntimeDep, session: SessionDep, ctx: Context) -> tuple[list[reports.Alert], ZoneInfo]:
    settings = runtime.settings
    policy = reports.AlertPolicy(
        denial_burst=settings.alert_denial_burst,
        heavy_reader_factor=settings.alert_heavy_reader_factor,
        office_hours=settings.alert_office_hours,
        timezone=settings.alert_timezone,
        account_change_window=timedelta(hours=settings.alert_account_change_hours),
    )
    return reports.alerts(session, policy, now=ctx.clock.now()), ZoneInfo(settings.alert_timezone)


@router.get("/alerts", response_model=Page[AlertRead], openapi_extra=may(P.AUDIT_READ))
def list_alerts(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: ContextDep,
    actor: Annotated[str | None, Query(description="An account id or a username.", max_length=64)] = None,
    kind: AlertKind | None = None,
    day: Annotated[IsoDate | None, Query(description="The day in the alert time zone.")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AlertRead]:
    """Alerts over the log (denial bursts, out-of-hours and heavy reading, break-glass,
    integrity failures, account changes followed by reads), oldest first, paged; the
    filters drill into a group of `/alerts/groups`."""
    _audited(session, ctx)
    found, zone = _alerts(runtime, session, ctx)
    actor_id = staff.account_id_of(session, actor) if actor is not None else None
    found = [
        a
        for a in found
        if (actor is None or a.actor_id == actor_id)
        and (kind is None or a.kind == kind)
        and (day is None or a.at.astimezone(zone).date() == day)
    ]
    # Oldest first, as the log: by time, then the first entry each alert names.
    page, after = page_by_key(found, lambda a: f"{a.at.isoformat()}|{_first(a):020d}|{a.kind}", cursor, limit)
    return Page[AlertRead](
        items=[
            AlertRead(kind=a.kind, actor_id=a.actor_id, at=a.at, count=a.count, entry_ids=list(a.entry_ids))
            for a in page
        ],
        next_cursor=after,
    )


def _first(alert: reports.Alert) -> int:
    return alert.entry_ids[0] if alert.entry_ids else 0


@router.get("/alerts/groups", response_model=AlertGroupPage, openapi_extra=may(P.AUDIT_READ))
def alert_groups(
    runtime: RuntimeDep,
    session: SessionDep,
    ctx: ContextDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> AlertGroupPage:
    """Alerts grouped by actor, kind and day, newest day first, paged."""
    _audited(session, ctx)
    found, zone = _alerts(runtime, session, ctx)
    grouped: dict[tuple[str | None, str, date], list[reports.Alert]] = defaultdict(list)
    for a in found:
        grouped[(a.actor_id, a.kind, a.at.astimezone(zone).date())].append(a)
    groups = [
        AlertGroupRead(
            kind=kind,
            actor_id=actor_id,
            day=day,
            alerts=len(alerts),
            entries=sum(a.count for a in alerts),
            first_at=min(a.at for a in alerts),
            last_at=max(a.at for a in alerts),
        )
        for (actor_id, kind, day), alerts in grouped.items()
    ]
    # Newest day first; within a day by kind and actor. The key sorts ascending: days count down.
    page, after = page_by_key(
        groups, lambda g: f"{99999999 - int(g.day.strftime('%Y%m%d')):08d}|{g.kind}|{g.actor_id or ''}", cursor, limit
    )
    found_actors = staff.identities(session, {g.actor_id for g in page if g.actor_id is not None})
    return AlertGroupPage(
        items=page,
        next_cursor=after,
        actors={key: StaffRead(**value._asdict()) for key, value in found_actors.items()},
    )


WitnessStatus = Literal[
    "in_step", "behind", "ahead", "restore_declared", "conflict", "none", "not_configured", "does_not_verify"
]


class WitnessRead(BaseModel):
    """The newest signed checkpoint beside what the checkpoint sink (the witness) holds."""

    checkpoint_size: int | None
    checkpoint_at: datetime | None
    witnessed_size: int | None
    witnessed_at: datetime | None
    status: WitnessStatus
    epochs: int = Field(description="Declared restores the witness crossed.")


@router.get("/witness", response_model=WitnessRead, openapi_extra=may(P.AUDIT_READ))
def witness(runtime: RuntimeDep, session: SessionDep, ctx: ContextDep) -> WitnessRead:
    """`conflict` when the log does not extend what the witness holds (a rollback, a
    truncation, an undeclared restore): judged against the stored tree, not by sizes."""
    _audited(session, ctx)
    try:
        latest: AuditCheckpoint | None = proofs.latest_checkpoint(session)
    except NotFound:
        latest = None
    sink = runtime.sequencer.sink
    status: WitnessStatus = "not_configured"
    held, epochs = None, 0
    if sink is not None:
        status, held = epochs_.witness_status(session, sink, latest.size if latest is not None else None)
        epochs = sink.last_epoch()
    return WitnessRead(
        checkpoint_size=latest.size if latest is not None else None,
        checkpoint_at=datetime.fromtimestamp(latest.timestamp, UTC) if latest is not None else None,
        witnessed_size=held.size if held is not None else None,
        witnessed_at=datetime.fromtimestamp(held.timestamp, UTC) if held is not None else None,
        status=status,
        epochs=epochs,
    )


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    outcome: Literal["justified", "unjustified", "needs_follow_up"]
    follow_up: reviews.FollowUp | None = None
    # A document number kept elsewhere (letters, digits, - / .), never a sentence about someone.
    reference: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9./-]{0,63}$")] | None = None


class ReviewRead(BaseModel):
    id: int
    grant_id: str
    outcome: str
    follow_up: str | None
    reference: str | None
    note: str | None  # reviews written before free text was withdrawn (revision 0019)
    reviewer_id: str
    at: datetime


class QueueItem(BaseModel):
    grant_id: str
    uses: int
    first_used_at: datetime


@router.get("/reviews/queue", response_model=Page[QueueItem], openapi_extra=may(P.AUDIT_READ))
def review_queue(
    session: SessionDep,
    ctx: ContextDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[QueueItem]:
    """Break-glass grants used in the log and not yet reviewed, oldest first, paged."""
    _audited(session, ctx)
    queued = [QueueItem(grant_id=g, uses=n, first_used_at=first) for g, n, first in reviews.queue(session)]
    page, after = page_by_key(queued, lambda q: f"{q.first_used_at.isoformat()}|{q.grant_id}", cursor, limit)
    return Page[QueueItem](items=page, next_cursor=after)


@router.post("/reviews", status_code=201, response_model=ReviewRead, openapi_extra=may(P.AUDIT_REVIEW))
def create_review(session: SessionDep, ctx: ContextDep, body: ReviewCreate) -> ReviewRead:
    ctx.principal.require(Permission.AUDIT_REVIEW)
    row = reviews.review(
        session,
        ctx.clock,
        grant_id=body.grant_id,
        outcome=body.outcome,
        follow_up=body.follow_up,
        reference=body.reference,
        reviewer_id=str(ctx.principal.account_id),
    )
    ctx.audit.append(session, ctx.event(Action.AUDIT_REVIEW, targets=(body.grant_id,), reason=body.outcome))
    session.flush()
    return ReviewRead.model_validate(row, from_attributes=True)
