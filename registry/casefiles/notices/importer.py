"""`registry import notices FILE --kind …`: each notice opens a casefile, as the account
that logged in to import them.

The account acts for every row exactly as it would over the API: the kind's permission,
registering a new subject, each row's org unit inside its scope, the purpose its role may
declare (supervision of a correction subject, assistance of a released one), and every
file it opens audited with it as the actor. No row runs as the console's tree-wide
principal, so a notice can never move a person or a file across units: a subject held
outside the account's scope is rejected, and a transfer is its own step.

Rows are committed in batches of a hundred, each row in a SAVEPOINT: a rejected row
leaves nothing behind and does not hold back its neighbours. A rejection carries the row
number and the error's `detail`, which names a rule and never a value. The import is
idempotent by the notice's number (`receipts`): a notice received before, or earlier in
the same file, is a duplicate, and opens, writes and audits nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry import importfiles
from registry.access.models import OrgUnit
from registry.access.policy import Permission, purposes_of
from registry.access.principal import SYSTEM_ACCOUNT_ID, Principal
from registry.accounts.console_login import still_acting
from registry.audit.actions import Action, Outcome
from registry.audit.log import AuditTrail, Event
from registry.casefiles.access import KIND_PERMISSION
from registry.casefiles.models import Casefile
from registry.casefiles.notices import receipts
from registry.casefiles.notices.formats import FORMATS, Notice, NoticeFormat, NoticeKind, parse_notice
from registry.casefiles.notices.numbers import document_key
from registry.casefiles.service import PersonHidden, create_casefile
from registry.clock import Clock, today
from registry.context import Context, actor_of
from registry.crypto.keyring import Keyring, forget
from registry.db import transaction
from registry.errors import Conflict, Forbidden, NotFound, PurposeRefused, RegistryError
from registry.importfiles import Progress, Rejection, batches, validation_reason
from registry.people.identifiers import parse_id_number
from registry.people.service import person_by_id_number

__all__ = ["DEFAULT_BATCH", "NoticeCounts", "import_file", "import_rows"]

# Rows per transaction. Each row runs the casefile service (a person, two DEKs, sealed
# details, index entries, audit entries), about 8 ms on SQLite, so a batch holds SQLite's
# one write lock for under a second and the requests of a running service wait at most
# that long; batches of 200 were hardly faster (bench/README.md).
DEFAULT_BATCH = 100
HELD_ELSEWHERE = "id_number: the person is held outside the import's scope; a transfer is its own step"
UNIT_UNKNOWN = "org_unit: org unit not found (or outside the import's scope)"
RECEIVED_ELSEWHERE = "document_no: this notice opened a file held outside the import's scope"


class Runtime(Protocol):
    """What an import needs of the running service (`registry.runtime.Runtime` has it)."""

    @property
    def engine(self) -> Engine: ...
    @property
    def keyring(self) -> Keyring: ...
    @property
    def clock(self) -> Clock: ...


@dataclass
class NoticeCounts:
    rows: int = 0
    opened: int = 0  # files opened
    subjects_registered: int = 0  # of them, for a person not registered before
    duplicates: int = 0
    rejected: int = 0


class RowResult(StrEnum):
    OPENED = "opened"
    REGISTERED = "registered"  # opened, and its subject registered with it
    DUPLICATE = "duplicate"


class HeldElsewhere(NotFound):
    """The notice names a registered person outside the account's scope: the row is
    rejected, never a move of the person, and the refusal is on the record naming them."""

    def __init__(self, targets: tuple[str, ...]) -> None:
        super().__init__(HELD_ELSEWHERE, targets=targets)


def _refusal(exc: RegistryError) -> list[Event]:
    """The entry the API's request boundary writes for an error that carries one."""
    if exc.audit_as is None:
        return []
    reason = (exc.audit_reason or exc.detail)[:200]
    return [Event(Action(exc.audit_as), Outcome.DENIED, targets=exc.targets, reason=reason)]


def authorise(principal: Principal, form: NoticeFormat) -> None:
    """Whether the account may import this kind of notice at all; refused as a whole."""
    if principal.account_id == SYSTEM_ACCOUNT_ID or principal.kind == "system":
        raise Forbidden("notices are imported by a named account that logs in, never by the console")
    principal.require(KIND_PERMISSION[form.casefile_kind])
    if not principal.can(Permission.PERSON_WRITE):
        principal.require(Permission.PERSON_REGISTER)  # a notice's subject may be new
    if form.purpose not in purposes_of(principal.roles):
        raise PurposeRefused(f"the role may not declare the purpose {form.purpose} that this kind of notice serves")


class _Run:
    """One import: what it learnt (org units in scope, notices opened or found received)
    carries from batch to batch."""

    def __init__(self, runtime: Runtime, form: NoticeFormat, principal: Principal, token_version: int) -> None:
        self.form, self.principal = form, principal
        self.keyring, self.clock = runtime.keyring, runtime.clock
        self.audit = AuditTrail(runtime.clock, actor_of(principal))
        self.units: dict[str, bool] = {}
        # (document key, subject) of the files this run opened: a further row is a duplicate.
        self.opened: set[tuple[str, str]] = set()
        self.token_version = token_version

    def parse(self, raw: Mapping[str, object]) -> Notice | str:
        try:
            return parse_notice(self.form, raw)
        except RegistryError as exc:
            return exc.detail

    def unit_in_scope(self, session: Session, code: str) -> bool:
        known = self.units.get(code)
        if known is None:
            query = select(OrgUnit.code).where(OrgUnit.code == code, self.principal.scope.clause(col(OrgUnit.path)))
            known = self.units[code] = session.exec(query).first() is not None  # units are never deleted
        return known

    def batch(
        self, session: Session, rows: list[tuple[int, Mapping[str, object]]]
    ) -> list[tuple[int, RowResult | str]]:
        """Each row's number and what became of it, or the reason it was rejected."""
        receipts.lock(session)
        still_acting(session, self.principal, self.token_version)
        parsed = [(number, self.parse(raw)) for number, raw in rows]
        keys = {document_key(n.document_no) for _, n in parsed if isinstance(n, Notice)}
        found = receipts.look_up(session, self.keyring, kind=self.form.kind, keys=keys)
        results: list[tuple[int, RowResult | str]] = []
        for number, notice in parsed:
            if isinstance(notice, str):
                results.append((number, notice))
                continue
            # The row's own unit first: nothing about receipts is said outside the scope.
            if not self.unit_in_scope(session, notice.org_unit):
                results.append((number, UNIT_UNKNOWN))
                continue
            key, subject = document_key(notice.document_no), self.subject_key(notice)
            if (key, subject) in self.opened:
                results.append((number, RowResult.DUPLICATE))
                continue
            decided = self.received_before(session, notice, found.hits.get(key, ()), found.errors.get(key))
            if decided is None:
                decided = self.open(session, notice)
                if isinstance(decided, RowResult):
                    self.opened.add((key, subject))
            results.append((number, decided))
        return results

    def subject_key(self, notice: Notice) -> str:
        """The row's subject as this run tells rows apart: the ID number as parsed, else as given."""
        try:
            return parse_id_number(notice.subject.id_number, today=today(self.clock)).value
        except RegistryError:
            return notice.subject.id_number

    def received_before(
        self, session: Session, notice: Notice, hits: Iterable[receipts.Receipt], error: RegistryError | None
    ) -> RowResult | str | None:
        """A duplicate, a refusal, or None (a file to open). One judgment names several
        co-defendants: a receipt counts only when its file is the row's subject's. Its file
        held outside the scope is refused on the record, as a person's 409 is, never
        answered as a silent duplicate."""
        hits = list(hits)
        if not hits and error is None:
            return None
        person = None
        try:
            person, _ = person_by_id_number(
                session, self.keyring, parse_id_number(notice.subject.id_number, today=today(self.clock))
            )
        except RegistryError:
            pass  # an ID number that does not parse: the row fails when it opens
        same = [h for h in hits if person is not None and h.person_id == person.id]
        if not same:
            if error is None:
                return None
            # A candidate that could not be opened may be this very notice: not opened twice.
            self.audit.append_all(session, _refusal(error))
            return error.detail
        receipt = same[0]
        if self.unit_in_scope(session, receipt.org_unit):
            return RowResult.DUPLICATE
        denied = Event(
            Action.ACCESS_DENIED, Outcome.DENIED, targets=(str(receipt.casefile_id),), reason=RECEIVED_ELSEWHERE
        )
        self.audit.append_all(session, [denied])
        return RECEIVED_ELSEWHERE

    def open(self, session: Session, notice: Notice) -> RowResult | str:
        """One row in a SAVEPOINT: its file, subject and receipt, or nothing at all."""
        if not self.unit_in_scope(session, notice.org_unit):
            return UNIT_UNKNOWN
        kept: list[Event] = []  # what the services keep on the record although the row fails
        denied: list[Event] = []  # refusals the API's boundary would write
        ctx = Context(self.principal, self.audit, self.clock, self.form.purpose, on_failure=kept.append)
        row = session.begin_nested()
        try:
            casefile, registered = self._open_file(session, ctx, notice, denied)
            receipts.record(
                session,
                self.keyring,
                kind=self.form.kind,
                casefile=casefile,
                document_no=notice.document_no,
                received_by=self.principal.account_id,
                at=self.clock.now(),
            )
            row.commit()
        except (RegistryError, ValidationError) as exc:
            row.rollback()
            forget(session)  # keys the row made went with it: none may seal a later row
            refused = _refusal(exc) if isinstance(exc, RegistryError) else []
            self.audit.append_all(session, [*kept, *denied, *refused])
            return exc.detail if isinstance(exc, RegistryError) else validation_reason(exc)
        self.audit.append_all(session, denied)
        return RowResult.REGISTERED if registered else RowResult.OPENED

    def _open_file(self, session: Session, ctx: Context, notice: Notice, denied: list[Event]) -> tuple[Casefile, bool]:
        """As a client of the API would: open the file with a new subject; if the ID number
        is registered (409, on the record), open it on that person, in scope or not at all."""
        try:
            with session.begin_nested():
                return create_casefile(session, ctx, self.keyring, data=notice.opening()), True
        except Conflict as exc:
            person_id = exc.extra.get("person_id")
            if person_id is None:
                raise
            denied.extend(_refusal(exc))
        try:
            opening = notice.opening(uuid.UUID(str(person_id)))
            return create_casefile(session, ctx, self.keyring, data=opening), False
        except PersonHidden as exc:
            raise HeldElsewhere(exc.targets) from None


def _begin(runtime: Runtime, form: NoticeFormat, principal: Principal) -> int:
    """The import as a whole, authorised before any row; a refusal is on the record. The
    account's token version, which every batch checks."""
    try:
        authorise(principal, form)
        with transaction(runtime.engine) as session:
            return still_acting(session, principal, principal.token_version)
    except RegistryError as exc:
        if exc.audit_as is not None:
            with transaction(runtime.engine) as side:
                AuditTrail(runtime.clock, actor_of(principal)).append_all(side, _refusal(exc))
        raise


def import_rows(
    runtime: Runtime,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    *,
    kind: NoticeKind,
    principal: Principal,
    total: int = 0,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> NoticeCounts:
    """Import numbered rows as `principal`; each batch commits on its own, so an interrupted
    run is finished by running it again (the notices already in are duplicates)."""
    form = FORMATS[kind]
    version = _begin(runtime, form, principal)
    return _import(runtime, form, principal, version, rows, total, batch_size, progress, on_reject)


def import_file(
    runtime: Runtime,
    path: Path,
    *,
    kind: NoticeKind,
    principal: Principal,
    rejects: Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> NoticeCounts:
    """Import a CSV or NDJSON file of `kind`'s notices; rejections go to `rejects` (CSV:
    row_number, reason). The file is read once and the account authorised first: a bad
    header, an encoding problem or a refused account writes nothing."""
    form = FORMATS[kind]
    versions: list[int] = []  # the token version `_begin` saw, for `_import` to check each batch by
    return importfiles.import_path(
        path,
        form.columns,
        form.required,
        lambda rows, total, write: _import(
            runtime, form, principal, versions[0], rows, total, batch_size, progress, write
        ),
        rejects=rejects,
        progress=progress,
        on_reject=on_reject,
        before=lambda: versions.append(_begin(runtime, form, principal)),
    )


def _import(
    runtime: Runtime,
    form: NoticeFormat,
    principal: Principal,
    token_version: int,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    total: int,
    batch_size: int,
    progress: Progress | None,
    on_reject: Callable[[Rejection], None] | None,
) -> NoticeCounts:
    run = _Run(runtime, form, principal, token_version)
    counts = NoticeCounts()
    for batch in batches(rows, batch_size):
        with transaction(runtime.engine) as session:
            results = run.batch(session, batch)
        for number, result in results:
            if not isinstance(result, RowResult):
                counts.rejected += 1
                if on_reject is not None:
                    on_reject(Rejection(number, result))
            elif result is RowResult.DUPLICATE:
                counts.duplicates += 1
            else:
                counts.opened += 1
                counts.subjects_registered += result is RowResult.REGISTERED
        counts.rows += len(batch)
        if progress is not None:
            progress(counts.rows, max(total, counts.rows))
    return counts
