"""Term changes of a community-correction file by a court's ruling (社区矫正法 Art. 33: the
court rules on the agency's proposal to reduce the sentence and serves the ruling on it).

The term is never edited through the details or a transition: this request alone moves it,
with the ruling's document number. The file's sealed details and its plain `term_ends_on`
(what worklists and the discharge rule read) change together; the old and new term end,
the document number and the ruling date go to the sealed timeline (`term_changed`); the
audit entry names the casefile and the fields, never a value.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from registry.audit.actions import Action
from registry.casefiles import access
from registry.casefiles.details import CorrectionDetails
from registry.casefiles.models import CASEFILE, CASEFILE_EVENT, Casefile, CasefileEvent
from registry.casefiles.schemas import EventCreate, TermChange
from registry.casefiles.service import DEFAULT_BACKDATE_DAYS, add_event, pending_closure
from registry.casefiles.workflows.common import Kind
from registry.casefiles.workflows.correction import Status
from registry.clock import today
from registry.context import Context
from registry.crypto.keyring import Compartment, Keyring
from registry.disclosure import rule_inputs
from registry.errors import Conflict, RuleViolation

TERM_CHANGED = "term_changed"
UNDER_TERM = frozenset({Status.received, Status.supervised, Status.detained})
AUDITED_FIELDS = ("term_ends_on.previous", "term_ends_on", "document_no", "decided_on")


@dataclass(frozen=True)
class Ruling:
    """A ruling already on the file's timeline (a `term_changed` event)."""

    decided_on: date
    document_no: str
    previous_term_ends_on: date


def _earlier_rulings(session: Session, ctx: Context, keyring: Keyring, casefile: Casefile) -> list[Ruling]:
    """The file's earlier rulings, oldest first: their document numbers and the term they
    changed are sealed, read as rule inputs (audited), never returned."""
    events = session.exec(
        select(CasefileEvent)
        .where(CasefileEvent.casefile_id == casefile.id, CasefileEvent.type == TERM_CHANGED)
        .order_by(CasefileEvent.occurred_on, CasefileEvent.created_at)  # type: ignore[arg-type]
    ).all()
    rulings = []
    for event in events:
        body = rule_inputs(
            session,
            ctx,
            keyring,
            CASEFILE_EVENT,
            event,
            fields=("body",),
            serving=Action.CASEFILE_TERM_CHANGE,
            subject=str(casefile.person_id),
        )["body"]
        rulings.append(
            Ruling(event.occurred_on, body["document_no"], date.fromisoformat(body["previous_term_ends_on"]))
        )
    return rulings


def check_reduction(data: TermChange, before: CorrectionDetails, earlier: list[Ruling]) -> None:
    """社区矫正法 Art. 33: the court rules on the agency's proposal to reduce the sentence.
    A ruling reduces: the new end is earlier than the term's current end, hence never after
    the judgment's (the original sentence's) end; it is not before the ruling itself (a term
    does not end in the past of the day it is decided), nor on or before the term's start.
    The ruling is decided after the judgment took effect and after the file's latest ruling,
    and its document number is its own (not the judgment's, not an earlier ruling's)."""
    original = earlier[0].previous_term_ends_on if earlier else before.term_ends_on
    if data.decided_on < before.judgment_effective_on:
        raise RuleViolation("term_change.decided_on: before the judgment took effect")
    if earlier and data.decided_on < earlier[-1].decided_on:
        raise RuleViolation("term_change.decided_on: before the file's latest ruling")
    if data.term_ends_on >= before.term_ends_on or data.term_ends_on >= original:
        raise RuleViolation("term_change.reduction: a reduction ends the term earlier (社区矫正法 Art. 33)")
    if data.term_ends_on < data.decided_on:
        raise RuleViolation("term_change.term_ends_on: before the ruling was decided")
    if data.term_ends_on <= before.term_starts_on:
        raise RuleViolation("term_change.term_ends_on: must be after term_starts_on")
    numbers = {before.document_no.strip(), *(r.document_no.strip() for r in earlier)}
    if data.document_no.strip() in numbers:
        raise RuleViolation("term_change.document_no: already recorded on this file (a ruling has its own number)")


def change_term(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    casefile_id: uuid.UUID,
    data: TermChange,
    backdate_days: int = DEFAULT_BACKDATE_DAYS,
) -> tuple[Casefile, CorrectionDetails]:
    """Records the ruling; returns the file and its details before the change. `decided_on`
    is not in the future, not before the file opened, and back-dated at most
    `casefile_backdate_days` (as a transition: the record is made when the ruling is served)."""
    casefile = access.open_to_decide(
        session,
        ctx.principal,
        ctx.clock,
        casefile_id=casefile_id,
        purpose=ctx.purpose,
        action=Action.CASEFILE_TERM_CHANGE,
        lock=True,
    ).casefile
    if casefile.kind != Kind.community_correction:
        raise RuleViolation(
            "term_change.kind: a court changes the term of a community-correction file (社区矫正法 Art. 33)"
        )
    if casefile.status not in UNDER_TERM:
        raise Conflict(f"term_change: the file is not under its term ({casefile.status})")
    if pending_closure(session, casefile.id) is not None:
        raise Conflict("closure.pending: a closure of this casefile awaits approval")
    if data.decided_on > today(ctx.clock):
        raise RuleViolation("term_change.decided_on: in the future")
    if data.decided_on < casefile.opened_on:
        raise RuleViolation("term_change.decided_on: before the file was opened")
    if (today(ctx.clock) - data.decided_on).days > backdate_days:
        raise RuleViolation(
            f"term_change.decided_on: back-dated more than {backdate_days} days (casefile_backdate_days)"
        )
    details = rule_inputs(
        session, ctx, keyring, CASEFILE, casefile, fields=("details",), serving=Action.CASEFILE_TERM_CHANGE
    )["details"]
    before = CorrectionDetails.model_validate(details)
    earlier = _earlier_rulings(session, ctx, keyring, casefile)
    check_reduction(data, before, earlier)
    after = before.model_copy(update={"term_ends_on": data.term_ends_on})
    key = keyring.write_key(session, owner=str(casefile.person_id), compartment=Compartment.CASEFILE)
    sealed = CASEFILE.seal(
        key,
        record_id=str(casefile.id),
        name="details",
        value=json.dumps(after.model_dump(mode="json"), ensure_ascii=False),
    )
    assert sealed is not None  # a value was given
    casefile.details_ct = sealed
    casefile.term_ends_on = data.term_ends_on
    casefile.version += 1
    session.add(casefile)
    add_event(
        session,
        ctx,
        keyring,
        casefile_id=casefile.id,
        data=EventCreate(
            type=TERM_CHANGED,
            occurred_on=data.decided_on,
            body={
                "previous_term_ends_on": before.term_ends_on.isoformat(),
                "term_ends_on": data.term_ends_on.isoformat(),
                "document_no": data.document_no,
                "ruling": data.ruling,
            },
        ),
    )
    ctx.audit.append(
        session,
        ctx.event(Action.CASEFILE_TERM_CHANGE, targets=(str(casefile.id),), fields=AUDITED_FIELDS, reason=data.ruling),
    )
    return casefile, before
