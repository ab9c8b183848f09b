"""What auditors ask of the log: filtered events, who accessed a person, alerts.

Entries hold ids, field names and metadata only, so nothing here can return a personal
value; the queries themselves are audited by the caller.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.audit.actions import Action
from registry.audit.models import AuditEntry, AuditLeaf
from registry.errors import NotFound

# A printed document discloses at least what a read does (`registry.documents`): each paper
# counts once (`document:print`; its records' `document:read` entries are not counted again).
READ_ACTIONS = ("person:read", "casefile:read", "registration:read", "permit:read", "document:print")
# What reads personal data, for the account-change alert: any read, list or search of a
# record about people (a new read action of these resources is covered without a change here).
PERSONAL_RESOURCES = frozenset(
    {"person", "dwelling", "registration", "permit", "casefile", "leave", "transfer", "person_transfer", "document"}
)
PERSONAL_READ_VERBS = frozenset({"read", "list", "search", "occupants", "events-read", "print"})
# Changes that give an account its power: made, re-roled, moved, or its password reset.
ACCOUNT_CHANGES = frozenset({"user:create", "user:role-grant", "user:password-reset"})
ACCOUNT_CHANGE_READS_KEPT = 20  # entry ids an alert lists after the change itself


@dataclass(frozen=True)
class EventFilter:
    actor: str | None = None
    units: Sequence[str] | None = None  # the actor's org unit is one of these
    target: str | None = None
    action: str | None = None
    outcome: str | None = None
    purpose: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _mentions(target: str) -> sa.ColumnElement[bool]:
    # Targets are opaque ids ([0-9a-f-], codes, hex tokens): a quoted match on the JSON text
    # is exact, and the same on both engines.
    if not all(c.isalnum() or c in "-_.:" for c in target):
        return sa.false()
    return sa.cast(AuditEntry.targets, sa.Text).like(f'%"{target}"%')


def events(
    session: Session, filters: EventFilter, *, after_id: int | None, limit: int
) -> list[tuple[AuditEntry, int | None]]:
    """Entries (with their sequence number once sequenced), oldest first."""
    query = select(AuditEntry, AuditLeaf.seq).outerjoin(AuditLeaf, col(AuditLeaf.entry_id) == col(AuditEntry.id))
    if filters.actor is not None:
        query = query.where(AuditEntry.actor_id == filters.actor)
    if filters.units is not None:
        query = query.where(col(AuditEntry.actor_org_unit).in_(filters.units))
    if filters.target is not None:
        query = query.where(_mentions(filters.target))
    if filters.action is not None:
        query = query.where(AuditEntry.action == filters.action)
    if filters.outcome is not None:
        query = query.where(AuditEntry.outcome == filters.outcome)
    if filters.purpose is not None:
        query = query.where(AuditEntry.purpose == filters.purpose)
    if filters.since is not None:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.at < filters.until)
    if after_id is not None:
        query = query.where(col(AuditEntry.id) > after_id)
    return list(session.exec(query.order_by(col(AuditEntry.id)).limit(limit)).all())


def entry(session: Session, entry_id: int) -> tuple[AuditEntry, int | None]:
    """One entry and its sequence number (None until sequenced)."""
    query = select(AuditEntry, AuditLeaf.seq).outerjoin(AuditLeaf, col(AuditLeaf.entry_id) == col(AuditEntry.id))
    found = session.exec(query.where(AuditEntry.id == entry_id)).first()
    if found is None:
        raise NotFound("no such audit entry")
    return found


def accesses_to(session: Session, record_ids: Sequence[str], *, before_id: int | None, limit: int) -> list[AuditEntry]:
    """Every entry naming any of the records (a person and each record of theirs), newest
    first, a page at a time: the data-subject access report (PIPL Art. 45)."""
    query = select(AuditEntry).where(sa.or_(*(_mentions(r) for r in record_ids)))
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    return list(session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit)))


def count_accesses_to(session: Session, record_ids: Sequence[str]) -> int:
    """How many entries `accesses_to` pages through."""
    where = sa.or_(*(_mentions(r) for r in record_ids))
    return int(session.exec(select(sa.func.count()).select_from(AuditEntry).where(where)).one())


@dataclass(frozen=True)
class AlertPolicy:
    denial_burst: int = 10  # denials by one actor within the window
    window: timedelta = timedelta(minutes=10)
    heavy_reader_factor: float = 5.0  # reads today ÷ the actor's daily median over the baseline
    heavy_reader_minimum: int = 50
    baseline_days: int = 30
    office_hours: tuple[int, int] = (7, 20)  # local hours in which reads are ordinary
    timezone: str = "Asia/Shanghai"
    account_change_window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Alert:
    kind: str  # break_glass | denial_burst | heavy_reader | out_of_hours | account_change_read | integrity
    actor_id: str | None
    at: datetime
    count: int
    entry_ids: tuple[int, ...]


def alerts(session: Session, policy: AlertPolicy, *, now: datetime) -> list[Alert]:
    since = now - timedelta(days=policy.baseline_days)
    recent = session.exec(select(AuditEntry).where(AuditEntry.at >= since).order_by(col(AuditEntry.id))).all()
    found: list[Alert] = []
    zone = ZoneInfo(policy.timezone)
    denials: dict[str | None, list[AuditEntry]] = defaultdict(list)
    reads_per_day: dict[str | None, Counter[str]] = defaultdict(Counter)
    changed: dict[str, AuditEntry] = {}  # account id → its latest power-giving change
    reads_after_change: dict[int, list[AuditEntry]] = defaultdict(list)  # change entry id → reads
    for entry in recent:
        assert entry.id is not None
        if _is_account_change(entry):
            changed[entry.targets[0]] = entry
        if entry.actor_id in changed and _reads_personal(entry):
            change = changed[entry.actor_id]
            if entry.at - change.at <= policy.account_change_window:
                reads_after_change[change.id].append(entry)  # type: ignore[index]
        if entry.action == Action.INTEGRITY_FAILURE:
            # A stored value failed its check (an account's seal, a ciphertext): someone
            # with the database may have edited it. Every one is worth a look.
            found.append(Alert("integrity", entry.actor_id, entry.at, 1, (entry.id,)))
        if entry.break_glass_grant is not None or entry.action.endswith(":break-glass"):
            found.append(Alert("break_glass", entry.actor_id, entry.at, 1, (entry.id,)))
        # A lockout is the service's answer to the burst, not one more attempt in it.
        if entry.outcome == "denied" and entry.actor_id is not None and entry.action != Action.AUTH_LOCKOUT:
            window = [e for e in denials[entry.actor_id] if entry.at - e.at <= policy.window] + [entry]
            denials[entry.actor_id] = window
            if len(window) == policy.denial_burst:
                found.append(Alert("denial_burst", entry.actor_id, entry.at, len(window), tuple(e.id for e in window)))  # type: ignore[misc]
        if entry.action in READ_ACTIONS and entry.outcome == "allowed":
            local = entry.at.astimezone(zone)
            reads_per_day[entry.actor_id][local.date().isoformat()] += 1
            start, end = policy.office_hours
            if not start <= local.hour < end or local.weekday() >= 5:
                found.append(Alert("out_of_hours", entry.actor_id, entry.at, 1, (entry.id,)))
    for change_id, reads in reads_after_change.items():
        ids = (change_id, *(e.id for e in reads[:ACCOUNT_CHANGE_READS_KEPT]))
        found.append(Alert("account_change_read", reads[0].actor_id, reads[0].at, len(reads), ids))  # type: ignore[arg-type]
    today = now.astimezone(zone).date().isoformat()
    for actor, days in reads_per_day.items():
        today_reads = days.get(today, 0)
        history = sorted(count for day, count in days.items() if day != today)
        median = history[len(history) // 2] if history else 0
        if today_reads >= policy.heavy_reader_minimum and today_reads > policy.heavy_reader_factor * max(median, 1):
            found.append(Alert("heavy_reader", actor, now, today_reads, ()))
    return found


def _is_account_change(entry: AuditEntry) -> bool:
    if entry.outcome != "allowed" or not entry.targets:
        return False
    return entry.action in ACCOUNT_CHANGES or (entry.action == "user:update" and "org_unit" in entry.fields)


def _reads_personal(entry: AuditEntry) -> bool:
    resource, _, verb = entry.action.partition(":")
    return entry.outcome == "allowed" and resource in PERSONAL_RESOURCES and verb in PERSONAL_READ_VERBS
