"""Leave outside the city or county (社区矫正法 Art. 27) for community-correction subjects.
Pure functions of dates and states; the day limits are local settings with the defaults of
DOMAIN.md.

Counting: a leave from `starts_on` to `ends_on` counts both days, so the 1st to the 10th is
a 10-day leave. Approval level:
- up to `office_max_days` (7): the justice office (司法所);
- longer, up to `county_max_days` (30): the county-level correction office;
- longer than `county_max_days`, or bringing the leave days inside any `window_days` (60)
  window above `window_max_days` (30), counting prior approved leaves: the level above.
  Days covered by two leaves count once; only windows touching the new leave matter, since
  the prior leaves alone were approved already.

States: `requested → approved | refused`; `approved → on_leave → returned | overdue`;
`overdue → returned` (a late return is still recorded). `on_leave` and `overdue` follow
from the dates, so a service may store them or derive them with `effective_status`; the
table therefore also allows `approved → returned` and `approved → overdue` for services
that do not store the departure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from enum import StrEnum
from itertools import accumulate

from registry.casefiles.workflows.common import Facts, Workflow, inclusive_days
from registry.errors import ConfigurationError, RuleViolation

OFFICE_MAX_DAYS = 7
COUNTY_MAX_DAYS = 30
WINDOW_DAYS = 60
WINDOW_MAX_DAYS = 30


class ApprovalLevel(StrEnum):
    """Ordered: each level may approve what the levels before it may."""

    justice_office = "justice_office"
    county = "county"
    above_county = "above_county"


_RANK = {level: rank for rank, level in enumerate(ApprovalLevel)}


class LeaveStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    refused = "refused"
    on_leave = "on_leave"
    returned = "returned"
    overdue = "overdue"


# -- approval level ---------------------------------------------------------------------


def _check_settings(office_max_days: int, county_max_days: int, window_days: int, window_max_days: int) -> None:
    if not 1 <= office_max_days <= county_max_days:
        raise ConfigurationError("leave settings: need 1 <= office_max_days <= county_max_days")
    if not 1 <= window_max_days <= window_days:
        raise ConfigurationError("leave settings: need 1 <= window_max_days <= window_days")


def _busiest_window(starts_on: date, ends_on: date, leaves: Sequence[tuple[date, date]], window_days: int) -> int:
    """The most leave days in any `window_days`-day window that overlaps [starts_on, ends_on]."""
    first = starts_on - timedelta(days=window_days - 1)
    span = (ends_on - first).days + window_days
    covered = [0] * span
    for leave_starts, leave_ends in leaves:
        lo, hi = max(leave_starts, first), min(leave_ends, first + timedelta(days=span - 1))
        for offset in range((lo - first).days, (hi - first).days + 1):
            covered[offset] = 1
    prefix = [0, *accumulate(covered)]
    return max(prefix[w + window_days] - prefix[w] for w in range((ends_on - first).days + 1))


def leave_days(starts_on: date, ends_on: date) -> int:
    if ends_on < starts_on:
        raise RuleViolation("leave.dates: ends_on is before starts_on")
    return inclusive_days(starts_on, ends_on)


def approval_level(
    starts_on: date,
    ends_on: date,
    *,
    prior_leaves: Sequence[tuple[date, date]] = (),
    office_max_days: int = OFFICE_MAX_DAYS,
    county_max_days: int = COUNTY_MAX_DAYS,
    window_days: int = WINDOW_DAYS,
    window_max_days: int = WINDOW_MAX_DAYS,
) -> ApprovalLevel:
    """The lowest level that may approve this leave. `prior_leaves`: (starts_on, ends_on) of
    the subject's approved leaves; a pair whose end is before its start covers nothing."""
    _check_settings(office_max_days, county_max_days, window_days, window_max_days)
    days = leave_days(starts_on, ends_on)
    if days > county_max_days:
        return ApprovalLevel.above_county
    leaves = [(s, e) for s, e in prior_leaves if s <= e] + [(starts_on, ends_on)]
    if _busiest_window(starts_on, ends_on, leaves, window_days) > window_max_days:
        return ApprovalLevel.above_county
    return ApprovalLevel.county if days > office_max_days else ApprovalLevel.justice_office


def may_approve(level_of_approver: ApprovalLevel | str, required_level: ApprovalLevel | str) -> bool:
    """justice_office < county < above_county: a higher level may approve a lower one's leave."""
    return _RANK[ApprovalLevel(level_of_approver)] >= _RANK[ApprovalLevel(required_level)]


def check_leave(starts_on: date, ends_on: date, *, today: date) -> None:
    """A request's dates: the end not before the start, the start not in the past."""
    leave_days(starts_on, ends_on)
    if starts_on < today:
        raise RuleViolation("leave.past: starts_on is in the past")


def is_return_overdue(ends_on: date, returned_on: date | None, today: date) -> bool:
    """Returned after `ends_on`, or not returned and `ends_on` has passed. Returning on the
    last day of leave is on time."""
    return (returned_on if returned_on is not None else today) > ends_on


# -- states -----------------------------------------------------------------------------

_L = LeaveStatus
TERMINAL = frozenset({_L.refused, _L.returned})
TRANSITIONS: dict[tuple[LeaveStatus, LeaveStatus], str | None] = {
    (_L.requested, _L.approved): "approval",
    (_L.requested, _L.refused): None,
    (_L.approved, _L.on_leave): "departure",
    (_L.approved, _L.returned): "return",
    (_L.approved, _L.overdue): "overdue",
    (_L.on_leave, _L.returned): "return",
    (_L.on_leave, _L.overdue): "overdue",
    (_L.overdue, _L.returned): "return",
}


def _approval(on: date, facts: Facts) -> None:
    """Facts: `approver_level` (the deciding user's level) and `required_level`
    (`approval_level` of the leave)."""
    approver, required = facts.get("approver_level"), facts.get("required_level")
    if approver not in set(ApprovalLevel) or required not in set(ApprovalLevel):
        raise RuleViolation("approval.level: approver_level and required_level are required")
    if not may_approve(str(approver), str(required)):
        raise RuleViolation(f"approval.level: this leave needs approval at {required} level (社区矫正法 Art. 27)")


def _departure(on: date, facts: Facts) -> None:
    """Facts: `starts_on`, `ends_on`: the subject leaves within the approved period."""
    starts_on, ends_on = _period(facts, "departure")
    if not starts_on <= on <= ends_on:
        raise RuleViolation("departure.period: outside the approved period")


def _return(on: date, facts: Facts) -> None:
    """Facts: `starts_on`: a return is recorded once the leave has started."""
    starts_on, _ = _period(facts, "return")
    if on < starts_on:
        raise RuleViolation("return.period: before the leave started")


def _overdue(on: date, facts: Facts) -> None:
    """Facts: `ends_on`: overdue only after the last day of leave."""
    _, ends_on = _period(facts, "overdue")
    if not is_return_overdue(ends_on, None, on):
        raise RuleViolation("overdue.period: the leave has not ended")


def _period(facts: Facts, rule: str) -> tuple[date, date]:
    starts_on, ends_on = facts.get("starts_on"), facts.get("ends_on")
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        raise RuleViolation(f"{rule}.period: starts_on and ends_on are required")
    return starts_on, ends_on


WORKFLOW = Workflow(
    name="leave",
    states=frozenset(LeaveStatus),
    initial=LeaveStatus.requested,
    transitions=TRANSITIONS,
    terminal=TERMINAL,
    rules={"approval": _approval, "departure": _departure, "return": _return, "overdue": _overdue},
)


def check_transition(frm: LeaveStatus | str, to: LeaveStatus | str, *, on: date, facts: Facts | None = None) -> None:
    WORKFLOW.check_transition(frm, to, on=on, facts=facts)


def effective_status(stored: LeaveStatus | str, *, starts_on: date, ends_on: date, today: date) -> LeaveStatus:
    """What a client sees: a stored `approved` is `on_leave` from `starts_on` and `overdue`
    after `ends_on`; a stored `on_leave` becomes `overdue` after `ends_on`."""
    status = LeaveStatus(stored)
    if status in (_L.approved, _L.on_leave):
        if today > ends_on:
            return _L.overdue
        if today >= starts_on:
            return _L.on_leave
    return status
