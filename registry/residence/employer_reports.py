"""An employer's batch report of arrivals and leavers (`registry import employer-report FILE`).

浙江省流动人口居住登记条例 Art. 8: an employer reports a worker to the police within three
working days of hiring them (and tells them to register their residence), and a leaver
within three working days of the end of the job. A `hired` row links the worker's active
registration in the import's scope to the employer; a `left` row unlinks it. The report
registers no one: a worker with no active registration in scope is a rejected row, for the
police to follow up. Re-running a report changes nothing (a link already there is a
duplicate), and a row's rejection names a rule, never a value.

The report comes from outside (an employer), so it is imported by a named account that
logged in at the console, within its roles and scope, and stops when that account is
disabled, re-roled or reset (`still_acting`), as the notice import does; never as the
console's own tree-wide principal. Each row runs in a savepoint of its batch's transaction,
so a rejected row leaves nothing behind and does not hold back its neighbours."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

from sqlmodel import Session

from registry import importfiles
from registry.access.policy import Permission, Purpose
from registry.access.principal import SYSTEM_ACCOUNT_ID, Principal
from registry.access.scope import scoped_select
from registry.accounts.console_login import still_acting
from registry.audit.actions import Action, Outcome
from registry.audit.log import AuditTrail, Event
from registry.clock import today
from registry.context import Context, actor_of
from registry.crypto.keyring import Keyring
from registry.db import transaction
from registry.errors import Forbidden, NotFound, RegistryError, RuleViolation
from registry.importfiles import Progress, Rejection, batches, check_keys, date_field, text_field
from registry.people.identifiers import parse_id_number, parse_uscc
from registry.people.service import person_by_id_number
from registry.residence import employers
from registry.residence.importer import DEFAULT_BATCH, Runtime
from registry.residence.models import Registration
from registry.residence.rules import RegistrationStatus

__all__ = ["COLUMNS", "REQUIRED", "ReportCounts", "import_report", "working_days_after"]

COLUMNS = ("employer_uscc", "employer_name", "id_number", "event", "on")
REQUIRED = frozenset(("employer_uscc", "id_number", "event", "on"))
REPORT_WORKING_DAYS = 3  # Art. 8, for hires and leavers alike


class Reported(StrEnum):
    HIRED = "hired"
    LEFT = "left"


class Done(StrEnum):
    LINKED = "linked"
    UNLINKED = "unlinked"
    DUPLICATE = "duplicate"


@dataclass
class ReportCounts:
    rows: int = 0
    linked: int = 0
    unlinked: int = 0
    duplicates: int = 0
    rejected: int = 0
    late: int = 0  # reported after Art. 8's three working days


def working_days_after(start: date, days: int) -> date:
    """The day `days` working days (Monday to Friday) after `start`. Public holidays and
    the weekends worked in their place are not modelled: the count is at most a few days
    short over a holiday, never long."""
    on = start
    while days:
        on += timedelta(days=1)
        days -= on.weekday() < 5
    return on


@dataclass(frozen=True)
class ReportRow:
    employer_uscc: str
    employer_name: str | None
    id_number: str
    event: Reported
    on: date


def parse_row(raw: Mapping[str, object], *, today: date) -> ReportRow:
    check_keys(raw, COLUMNS)
    values = {name: text_field(raw, name) for name in COLUMNS if name != "on"}
    for name in sorted(REQUIRED - {"on"}):
        if values[name] is None:
            raise RuleViolation(f"{name}: required")
    on = date_field(raw, "on")
    if on is None:
        raise RuleViolation("on: required")
    if on > today:
        raise RuleViolation("on: in the future")
    if values["event"] not in set(Reported):
        raise RuleViolation(f"event: one of {', '.join(Reported)}")
    assert values["employer_uscc"] is not None and values["id_number"] is not None
    return ReportRow(
        employer_uscc=parse_uscc(values["employer_uscc"]),
        employer_name=values["employer_name"],
        id_number=values["id_number"],
        event=Reported(values["event"]),
        on=on,
    )


def _registration_in_scope(
    session: Session, ctx: Context, keyring: Keyring, id_number: str, record: Callable[[Event], None]
) -> Registration:
    """The worker's active registration in the import's scope. The exact search by ID
    number is recorded (`record`) like any other, with its token, and as denied when it
    finds no registration in scope: the entry outlives the row's savepoint."""
    person, token_hex = person_by_id_number(session, keyring, parse_id_number(id_number, today=today(ctx.clock)))
    found = None
    if person is not None:
        found = session.exec(
            scoped_select(session, Registration, ctx.principal.scope).where(
                Registration.person_id == person.id, Registration.status == RegistrationStatus.active
            )
        ).first()
    targets = (str(person.id),) if person is not None else ()
    if found is None:
        # One reason for no person and a person registered elsewhere: the report is not
        # the way to learn where someone lives.
        reason = "id_number: no active residence registration in the import's scope (the worker registers)"
        record(
            ctx.event(
                Action.PERSON_SEARCH, outcome=Outcome.DENIED, targets=targets, search_token=token_hex, reason=reason
            )
        )
        raise NotFound(reason)
    record(ctx.event(Action.PERSON_SEARCH, targets=targets, search_token=token_hex))
    return found


def apply_row(
    session: Session, ctx: Context, keyring: Keyring, row: ReportRow, record: Callable[[Event], None]
) -> Done:
    registration = _registration_in_scope(session, ctx, keyring, row.id_number, record)
    employer = employers.find_by_uscc(session, keyring, row.employer_uscc)
    if row.event is Reported.LEFT:
        if employer is None or registration.employer_id != employer.id:
            return Done.DUPLICATE  # not linked (any more): nothing to undo
        registration.employer_id = None
    else:
        if employer is not None and registration.employer_id == employer.id:
            return Done.DUPLICATE
        if employer is None:
            if row.employer_name is None:
                raise RuleViolation("employer_name: required for an employer the registry does not know")
            unit = registration.org_unit_code
            employer_id = employers.employer_for(
                session, ctx, keyring, name=row.employer_name, uscc=row.employer_uscc, dwelling_unit=unit
            )
        else:
            employer_id = employer.id
        registration.employer_id = employer_id
    registration.version += 1
    session.add(registration)
    linked = employer.id if employer is not None else registration.employer_id
    ctx.audit.append(
        session,
        ctx.event(
            Action.REGISTRATION_EMPLOYER,
            targets=(str(registration.id), str(registration.person_id), str(linked)),
            reason=row.event.value,
        ),
    )
    return Done.UNLINKED if row.event is Reported.LEFT else Done.LINKED


def _run_batch(
    session: Session, ctx: Context, keyring: Keyring, batch: list[tuple[int, Mapping[str, object]]]
) -> list[tuple[int, Done | str, bool]]:
    """Each row's number, what it did or why it was rejected, and whether it was late."""
    on = today(ctx.clock)
    results: list[tuple[int, Done | str, bool]] = []
    for number, raw in batch:
        searched: list[Event] = []
        try:
            row = parse_row(raw, today=on)
            with session.begin_nested():
                outcome = apply_row(session, ctx, keyring, row, searched.append)
        except RegistryError as exc:
            results.append((number, exc.detail, False))
            continue
        finally:
            ctx.audit.append_all(session, searched)  # after the savepoint: kept either way
        results.append((number, outcome, on > working_days_after(row.on, REPORT_WORKING_DAYS)))
    return results


def import_rows(
    runtime: Runtime,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    *,
    principal: Principal,
    total: int = 0,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> ReportCounts:
    version = _begin(runtime, principal)
    ctx = Context(principal, AuditTrail(runtime.clock, actor_of(principal)), runtime.clock, Purpose.REGISTRATION)
    counts = ReportCounts()
    for batch in batches(rows, batch_size):
        with transaction(runtime.engine) as session:
            still_acting(session, principal, version)
            results = _run_batch(session, ctx, runtime.keyring, batch)
        for number, result, late in results:
            if not isinstance(result, Done):  # (a Done is a str too)
                counts.rejected += 1
                if on_reject is not None:
                    on_reject(Rejection(number, result))
                continue
            counts.linked += result is Done.LINKED
            counts.unlinked += result is Done.UNLINKED
            counts.duplicates += result is Done.DUPLICATE
            counts.late += late and result is not Done.DUPLICATE
        counts.rows += len(batch)
        if progress is not None:
            progress(counts.rows, max(total, counts.rows))
    return counts


def _begin(runtime: Runtime, principal: Principal) -> int:
    """The import authorised as a whole before any row (a refusal on the record); the
    account's token version, which every batch checks."""
    try:
        if principal.account_id == SYSTEM_ACCOUNT_ID or principal.kind == "system":
            raise Forbidden("an employer's report is imported by a named account that logs in, never by the console")
        for permission in (Permission.RESIDENCE_READ, Permission.RESIDENCE_WRITE):
            principal.require(permission)
        with transaction(runtime.engine) as session:
            return still_acting(session, principal, principal.token_version)
    except RegistryError as exc:
        with transaction(runtime.engine) as side:
            denied = Event(Action.ACCESS_DENIED, Outcome.DENIED, reason=exc.detail[:200])
            AuditTrail(runtime.clock, actor_of(principal)).append(side, denied)
        raise


def import_report(
    runtime: Runtime,
    path: Path,
    *,
    principal: Principal,
    rejects: Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> ReportCounts:
    """Import an employer's report (CSV or NDJSON); rejections go to `rejects`."""
    return importfiles.import_path(
        path,
        COLUMNS,
        REQUIRED,
        lambda rows, total, write: import_rows(
            runtime, rows, principal=principal, total=total, batch_size=batch_size, progress=progress, on_reject=write
        ),
        rejects=rejects,
        progress=progress,
        on_reject=on_reject,
    )
