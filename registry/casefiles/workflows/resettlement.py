"""Post-release resettlement assistance (安置帮教): states and dates. Pure functions of dates.

Articles cited are of 上海市安置帮教工作规定 unless named otherwise; the 5-year assistance
period and the 30-day notice are settings with those defaults (DOMAIN.md).

States:
    notified → released                    release recorded with its certificate number
    released → handed_over                 key persons only: met at the gate (必接必送)
    handed_over → assisting
    released → assisting                   non-key persons only: no handover step
    any open state → closed                the period ended, or a reason (death, new sentence…)
    any open state → transferred           the person lives elsewhere now; a reason

Decision: `handed_over` is reserved for key persons (DOMAIN.md "met at release for key
persons"), and a key person cannot skip it, so the handover rate in statistics counts
only the people it applies to. A case opened from a discharged correction case starts at
`released` (`initial_status`): there is no prison notice to wait for.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from registry.casefiles.workflows.common import (
    Facts,
    Kind,
    Workflow,
    add_years,
    require_text,
)
from registry.errors import RuleViolation

ASSISTANCE_YEARS = 5  # setting: assistance lasts 5 years from release
NOTICE_DAYS = 30  # Art. 7: the institution notifies 30 days before release


class Source(StrEnum):
    prison = "prison"  # 刑满释放
    correction = "correction"  # 社区矫正期满解除


class Status(StrEnum):
    notified = "notified"
    released = "released"
    handed_over = "handed_over"
    assisting = "assisting"
    closed = "closed"
    transferred = "transferred"


class Measure(StrEnum):
    """Assistance measures, recorded as events (Art. 10-13)."""

    employment = "employment"
    housing = "housing"
    training = "training"
    social_assistance = "social_assistance"


_S = Status
_OPEN = (_S.notified, _S.released, _S.handed_over, _S.assisting)
TERMINAL = frozenset({_S.closed, _S.transferred})
TRANSITIONS: dict[tuple[Status, Status], str | None] = {
    (_S.notified, _S.released): "release",
    (_S.released, _S.handed_over): "handover",
    (_S.released, _S.assisting): "direct_assistance",
    (_S.handed_over, _S.assisting): None,
    **{(s, _S.closed): "close" for s in _OPEN},
    **{(s, _S.transferred): "transfer" for s in _OPEN},
}


def initial_status(source: Source | str) -> Status:
    """Prison releases start at `notified`; a discharged correction case starts at `released`."""
    return Status.released if Source(source) is Source.correction else Status.notified


# -- dates ------------------------------------------------------------------------------


def notice_due_on(release_on: date, *, days: int = NOTICE_DAYS) -> date:
    """The latest day the releasing institution's notice is on time (Art. 7: 前三十日)."""
    return release_on - timedelta(days=days)


def is_notice_late(release_on: date, notified_on: date, *, days: int = NOTICE_DAYS) -> bool:
    return notified_on > notice_due_on(release_on, days=days)


def assistance_ends_on(release_on: date, years: int = ASSISTANCE_YEARS) -> date:
    """The last day of assistance: the period starts on the release day, so 5 years from
    2025-03-10 run through 2030-03-09 (a Feb 29 release ends on Feb 27 or 28)."""
    return add_years(release_on, years) - timedelta(days=1)


def is_assisting_period(release_on: date, today: date, years: int = ASSISTANCE_YEARS) -> bool:
    return release_on <= today <= assistance_ends_on(release_on, years)


# -- transition rules -------------------------------------------------------------------


def _release(on: date, facts: Facts) -> None:
    """Facts: `certificate_no` (释放证明书, or the correction discharge certificate)."""
    require_text(facts, "certificate_no", "release", "a release needs the release certificate number")


def _handover(on: date, facts: Facts) -> None:
    """Facts: `key_person` (the details flag). Only key persons are handed over."""
    if facts.get("key_person") is not True:
        raise RuleViolation("handover.key_person: a handover is for key persons only")


def _direct_assistance(on: date, facts: Facts) -> None:
    """Facts: `key_person`. A key person is handed over before assistance starts."""
    if facts.get("key_person") is not False:
        raise RuleViolation("direct_assistance.key_person: a key person is handed over first")


def _close(on: date, facts: Facts) -> None:
    """Facts: `release_on` (and optional `assistance_years`) once the period has ended, or a
    `reason` for an early close."""
    reason = facts.get("reason")
    if isinstance(reason, str) and reason.strip():
        return
    release_on = facts.get("release_on")
    years = facts.get("assistance_years", ASSISTANCE_YEARS)
    if not isinstance(years, int) or isinstance(years, bool) or years < 1:
        raise RuleViolation("close.assistance_years: must be a positive number of years")
    if not isinstance(release_on, date) or on < assistance_ends_on(release_on, years):
        raise RuleViolation("close.period_ended: assistance has not ended; an early close needs a reason")


def _transfer(on: date, facts: Facts) -> None:
    require_text(facts, "reason", "transfer", "a transfer needs a reason")


WORKFLOW = Workflow(
    name=Kind.resettlement,
    states=frozenset(Status),
    initial=Status.notified,
    transitions=TRANSITIONS,
    terminal=TERMINAL,
    rules={
        "release": _release,
        "handover": _handover,
        "direct_assistance": _direct_assistance,
        "close": _close,
        "transfer": _transfer,
    },
)


def check_transition(frm: Status | str, to: Status | str, *, on: date, facts: Facts | None = None) -> None:
    WORKFLOW.check_transition(frm, to, on=on, facts=facts)
