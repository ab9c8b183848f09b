"""Residence rules: pure functions of dates and states. No database, no clock: `today` is an argument.

Articles cited are of 居住证暂行条例 (the permit regulation) unless named otherwise.

Permit workflow (Art. 9). `request_materials` is allowed once, from `applied` only: the
station gives one notice listing everything missing (一次性告知). When the materials arrive
the application is accepted directly (`needs_materials --accept--> accepted`); there is no
separate `resubmit` step, because the API has no such route and a second "applied" stay
would allow a second materials notice. `reject` is possible until the permit is issued.

Annual endorsement (Art. 10), as modelled here:
- Anniversaries are counted from `issued_on`: the n-th is `issued_on` + n calendar years,
  computed from `issued_on` each time, so a permit issued on Feb 29 has its anniversary on
  Feb 28 in common years and on Feb 29 again in leap years.
- The endorsement window of an anniversary runs from one calendar month before it up to
  and including the anniversary itself ("居住每满1年之日前1个月内").
- The permit is valid through its *pending* anniversary: the first one not yet covered by
  an endorsement (`valid_until`). On the day after, it is `suspended` (derived from dates,
  never stored).
- An endorsement on day `e` covers every anniversary whose window has opened by `e`. On
  time, that is exactly the pending one; late (after the pending anniversary), it covers all
  the missed ones too (and the next one if its window is already open). Validity then runs
  to the following anniversary of issue. Anniversaries stay anchored at `issued_on`
  (DOMAIN.md: "each anniversary of issue"); a late endorsement does not move them.
- A late endorsement reactivates the permit and restarts the count of continuous
  residence years from its own date (`PermitState.continuous_since`, Art. 10 para. 3).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from registry.errors import ConfigurationError, Conflict, Forbidden, RuleViolation

ISSUE_DAYS_DEFAULT = 15  # Art. 9: issue within 15 days of acceptance
ISSUE_DAYS_MAX = 30  # Art. 9: a local extension may not exceed 30 days
ELIGIBILITY_MIN_MONTHS = 6  # Art. 2: 居住半年以上


class RegistrationStatus(StrEnum):
    active = "active"
    moved = "moved"
    departed = "departed"
    # An arrival of a person held by another unit waits for that unit's consent (issue 13):
    # `pending_transfer → active` on acceptance, `→ refused | withdrawn` otherwise.
    pending_transfer = "pending_transfer"
    refused = "refused"
    withdrawn = "withdrawn"


class Basis(StrEnum):
    """Basis of a residence registration."""

    employment = "employment"
    study = "study"
    family = "family"
    business = "business"
    other = "other"


class PermitBasis(StrEnum):
    """Art. 2: lawful stable employment, lawful stable residence, or continuous study."""

    employment = "employment"
    residence = "residence"
    study = "study"


class PermitStatus(StrEnum):
    applied = "applied"
    needs_materials = "needs_materials"
    accepted = "accepted"
    issued = "issued"
    rejected = "rejected"
    cancelled = "cancelled"
    # Derived from dates for an issued permit whose anniversary passed unendorsed; never stored.
    suspended = "suspended"


class PermitAction(StrEnum):
    request_materials = "request_materials"
    accept = "accept"
    issue = "issue"
    reject = "reject"
    endorse = "endorse"
    cancel = "cancel"


STORED_STATUSES = frozenset(PermitStatus) - {PermitStatus.suspended}
TERMINAL_STATUSES = frozenset({PermitStatus.rejected, PermitStatus.cancelled})
# A live permit: an application under way or a permit in force (suspended is stored as issued).
# One per person (a partial unique index on `residence_permit.person_id` says so too).
LIVE_STATUSES = STORED_STATUSES - TERMINAL_STATUSES

_S, _A = PermitStatus, PermitAction
TRANSITIONS: dict[tuple[PermitStatus, PermitAction], PermitStatus] = {
    (_S.applied, _A.request_materials): _S.needs_materials,
    (_S.applied, _A.accept): _S.accepted,
    (_S.applied, _A.reject): _S.rejected,
    (_S.needs_materials, _A.accept): _S.accepted,
    (_S.needs_materials, _A.reject): _S.rejected,
    (_S.accepted, _A.issue): _S.issued,
    (_S.accepted, _A.reject): _S.rejected,
    (_S.issued, _A.endorse): _S.issued,
    (_S.issued, _A.cancel): _S.cancelled,
    # Callers may pass the effective status: a late endorsement reactivates (Art. 10).
    (_S.suspended, _A.endorse): _S.issued,
    (_S.suspended, _A.cancel): _S.cancelled,
}


def next_status(status: PermitStatus | str, action: PermitAction | str) -> PermitStatus:
    """The stored status after `action`; `Conflict` (409) for a transition not in `TRANSITIONS`."""
    try:
        status, action = PermitStatus(status), PermitAction(action)
    except ValueError:
        raise Conflict("transition: unknown status or action") from None
    target = TRANSITIONS.get((status, action))
    if target is None:
        raise Conflict(f"transition: cannot {action} a permit that is {status}")
    return target


# -- calendar ---------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` calendar months later (earlier if negative),
    clamped to the last day of a shorter month: 2025-08-31 + 6 months is 2026-02-28."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def anniversary(issued_on: date, n: int) -> date:
    """The n-th anniversary, from `issued_on` itself so that Feb 29 comes back in leap years."""
    return add_months(issued_on, 12 * n)


def window_opens_on(anniversary_on: date) -> date:
    return add_months(anniversary_on, -1)


# -- dwellings --------------------------------------------------------------------------


def check_dwelling(*, kind: str, has_landlord: bool, pledge_signed_on: date | None, today: date) -> None:
    """A rental names its landlord, who signs the security responsibility pledge
    (租赁房屋治安管理规定 Art. 6-7); other kinds have neither; a pledge is never signed in the future."""
    if kind == "rental" and not has_landlord:
        raise RuleViolation("landlord: a rental names its landlord (租赁房屋治安管理规定 Art. 6)")
    if kind != "rental" and (has_landlord or pledge_signed_on):
        raise RuleViolation("landlord: only rentals have a landlord and a pledge")
    if pledge_signed_on is not None and pledge_signed_on > today:
        raise RuleViolation("pledge_signed_on: in the future")


# -- registrations ----------------------------------------------------------------------


def is_late(arrived_on: date, registered_on: date, *, report_days: int) -> bool:
    """Late if registered more than `report_days` after arrival (also used for moves)."""
    return (registered_on - arrived_on).days > report_days


def check_registration_dates(arrived_on: date, registered_on: date, *, today: date) -> None:
    if arrived_on > today:
        raise RuleViolation("arrived_on: in the future")
    if registered_on > today:
        raise RuleViolation("registered_on: in the future")
    if registered_on < arrived_on:
        raise RuleViolation("registered_on: before arrived_on")


@dataclass(frozen=True)
class Residence:
    """One registration of a chain (the current one first, then each one it followed)."""

    registered_on: date
    status: RegistrationStatus | str
    city: str  # the root of the org-unit tree its dwelling lies in


def residence_since(chain: Sequence[Residence]) -> date:
    """The day the Art. 2 clock (居住半年以上) started: the first registration of an unbroken
    run of moves inside the current city. A move (inside a unit, or an accepted transfer to
    another) continues the run; a departure, or a registration in another city, ends it
    (浙江省流动人口居住登记条例 Art. 16: counted from the declaration of residence)."""
    since = chain[0].registered_on
    for earlier in chain[1:]:
        if earlier.status != RegistrationStatus.moved or earlier.city != chain[0].city:
            break
        since = earlier.registered_on
    return since


# -- permit eligibility and deadlines ----------------------------------------------------


def check_eligibility(
    *,
    registration_status: RegistrationStatus | str,
    registered_on: date,
    permit_basis: PermitBasis | str,
    today: date,
    min_months: int = ELIGIBILITY_MIN_MONTHS,
) -> None:
    """Art. 2: an active registration at least `min_months` calendar months old, and a basis of
    employment, residence or study. Eligible from the same day of the month `min_months` later."""
    if registration_status != RegistrationStatus.active:
        raise RuleViolation("eligibility.active_registration: the registration is not active")
    if permit_basis not in set(PermitBasis):
        raise RuleViolation(
            "eligibility.basis: the basis must be employment, residence or study (居住证暂行条例 Art. 2)"
        )
    if today < add_months(registered_on, min_months):
        raise RuleViolation(
            f"eligibility.six_months: registered less than {min_months} months ago (居住证暂行条例 Art. 2)"
        )


def check_one_live_permit(live: Sequence[object]) -> None:
    """One live permit per person: a second application while one is under way or in force
    is a conflict (a permit is replaced by 换领/补领, Art. 11, never by a second one)."""
    if live:
        raise Conflict(
            "permit.one_live: the person already holds a live permit or application (居住证暂行条例 Art. 11)"
        )


def check_issuer_level(depth: int, *, max_depth: int) -> None:
    """Art. 10 (居住证由县级人民政府公安机关签发): only accounts at the county level or above
    issue. `depth` counts the account's org unit from the root (1 = city, 2 = district/county
    in the city → district → street tree); 0 is a tree-wide account."""
    if depth > max_depth:
        raise Forbidden(
            "permit.issuer_level: permits are issued by county-level public security (居住证暂行条例 Art. 10)"
        )


def check_issue_days(n: int) -> int:
    """The `permit_issue_days` setting: 1 to 30 (Art. 9: 15 days, extendable to at most 30)."""
    if not 1 <= n <= ISSUE_DAYS_MAX:
        raise ConfigurationError(f"permit_issue_days: must be between 1 and {ISSUE_DAYS_MAX} (居住证暂行条例 Art. 9)")
    return n


def issue_due_on(accepted_on: date, *, issue_days: int = ISSUE_DAYS_DEFAULT) -> date:
    """Last day on which issuing is on time (Art. 9: 自受理之日起15日内)."""
    return accepted_on + timedelta(days=check_issue_days(issue_days))


def is_issue_overdue(
    status: PermitStatus | str, accepted_on: date | None, today: date, *, issue_days: int = ISSUE_DAYS_DEFAULT
) -> bool:
    if status != PermitStatus.accepted or accepted_on is None:
        return False
    return today > issue_due_on(accepted_on, issue_days=issue_days)


# -- annual endorsement (Art. 10) -------------------------------------------------------


@dataclass(frozen=True)
class PermitState:
    """Where an issued permit stands on a given day."""

    status: PermitStatus  # issued or suspended
    valid_until: date  # the pending (first unendorsed) anniversary; valid through this day
    window_opens_on: date
    window_closes_on: date  # == valid_until
    continuous_since: date  # continuous residence years count from here
    last_endorsed_anniversary: date | None

    def endorsement_due_within(self, today: date, days: int = 30) -> bool:
        return endorsement_due_within(self, today, days)


@dataclass
class _Walk:
    issued_on: date
    continuous_since: date
    pending: int = 1  # index of the first anniversary not covered
    last_covered: date | None = None
    latest: date | None = None  # latest accepted endorsement

    def refusal(self, endorsed_on: date) -> str | None:
        if (self.last_covered is not None and endorsed_on <= self.last_covered) or endorsed_on == self.latest:
            return "endorsement.duplicate: the anniversary is already endorsed"
        if self.latest is not None and endorsed_on < self.latest:
            return "endorsement.order: endorsed_on is before the latest endorsement"
        if endorsed_on < window_opens_on(anniversary(self.issued_on, self.pending)):
            return "endorsement.too_early: the endorsement window has not opened (居住证暂行条例 Art. 10)"
        return None

    def endorse(self, endorsed_on: date) -> None:
        if endorsed_on > anniversary(self.issued_on, self.pending):
            self.continuous_since = endorsed_on  # late: Art. 10 para. 3 restarts the count
        while window_opens_on(anniversary(self.issued_on, self.pending)) <= endorsed_on:
            self.last_covered = anniversary(self.issued_on, self.pending)
            self.pending += 1
        self.latest = endorsed_on


def _walk(issued_on: date, endorsements: Sequence[date], today: date) -> _Walk:
    walk = _Walk(issued_on, continuous_since=issued_on)
    for endorsed_on in sorted(endorsements):
        if endorsed_on > today:
            break
        # Entries `check_endorsement` would refuse cover nothing; this keeps the function total.
        if walk.refusal(endorsed_on) is None:
            walk.endorse(endorsed_on)
    return walk


def permit_state(issued_on: date, endorsements: Sequence[date], today: date) -> PermitState:
    """The state of an issued permit on `today`; endorsements dated after `today` are ignored."""
    walk = _walk(issued_on, endorsements, today)
    valid_until = anniversary(issued_on, walk.pending)
    return PermitState(
        status=PermitStatus.suspended if today > valid_until else PermitStatus.issued,
        valid_until=valid_until,
        window_opens_on=window_opens_on(valid_until),
        window_closes_on=valid_until,
        continuous_since=walk.continuous_since,
        last_endorsed_anniversary=walk.last_covered,
    )


def endorsement_window(issued_on: date, last_endorsed_anniversary: date | None = None) -> tuple[date, date]:
    """(opens_on, closes_on) for the first anniversary after `last_endorsed_anniversary`."""
    n = 1 if last_endorsed_anniversary is None else max(1, last_endorsed_anniversary.year - issued_on.year)
    while last_endorsed_anniversary is not None and anniversary(issued_on, n) <= last_endorsed_anniversary:
        n += 1
    closes_on = anniversary(issued_on, n)
    return window_opens_on(closes_on), closes_on


def check_endorsement(issued_on: date, endorsements: Sequence[date], endorsed_on: date, today: date) -> PermitState:
    """Refuse an endorsement in the future, before its window opens, before the latest one, or
    for an anniversary already endorsed; return the permit's state with it recorded."""
    if endorsed_on > today:
        raise RuleViolation("endorsement.future: endorsed_on is in the future")
    refusal = _walk(issued_on, endorsements, today).refusal(endorsed_on)
    if refusal is not None:
        raise RuleViolation(refusal)
    return permit_state(issued_on, [*endorsements, endorsed_on], today)


def effective_status(
    stored_status: PermitStatus | str, issued_on: date | None, endorsements: Sequence[date], today: date
) -> PermitStatus:
    """The status clients see: a stored `issued` becomes `suspended` after a missed anniversary."""
    status = PermitStatus(stored_status)
    if status is PermitStatus.suspended:
        raise ValueError("suspended is derived, never stored")
    if status is not PermitStatus.issued:
        return status
    if issued_on is None:
        raise ValueError("an issued permit has an issue date")
    return permit_state(issued_on, endorsements, today).status


def endorsement_due_within(state: PermitState, today: date, days: int = 30) -> bool:
    """Worklist: an active permit whose pending anniversary falls within the next `days` days.
    Suspended permits are a worklist of their own."""
    return state.status is PermitStatus.issued and today <= state.valid_until <= today + timedelta(days=days)
