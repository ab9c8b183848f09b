"""Residence statistics per org unit (subtree) and period (DOMAIN.md "Statistics").

Aggregates only: counts come from `GROUP BY` queries, and no personal value is read. The one
place rows are looked at is the split of issued permits into `issued` and `suspended` (and
the endorsement worklist), which is derived from dates by `rules.permit_state`; for that,
only permit ids, issue dates and endorsement dates are loaded, in one query.

Cells (stable names):
- `registrations.total`, `.timely`, `.late` — registrations with `registered_on` in the
  period; a partition (timely + late = total). `registrations.timely_rate` = timely ÷ total,
  suppressed when either is.
- `registrations.basis.<basis>` — a second partition of the same total.
- `permits.total`, `permits.status.<status>` — permits applied for by `as_of`, by their
  effective status on `as_of` (the period's last day, or today if earlier); a partition.
- `permits.issue_overdue` — accepted on `as_of` and past the issue deadline (Art. 9).
- `permits.endorsement_due_30d` — issued, and the pending anniversary falls within 30 days
  of `as_of` (Art. 10).

Status on a past day is rebuilt from the stored dates: `cancelled_on`, `issued_on` and
`accepted_on` say when those steps happened. Two steps carry no date of their own: a
rejection and a materials notice. A rejected permit counts as rejected from its application
on, and a permit whose materials were asked for and that was accepted only after `as_of`
counts as applied. For the current period (`as_of` = today) the statuses are exact.

Suppression (suppression.py): every partition is protected on its own; the two partitions
of `registrations.total` share their total, so if either has to hide it, both hide
everything. The two worklist counts are sub-counts of a published status cell (overdue ⊆
accepted, endorsement due ⊆ issued): one is published only when its status cell is, and when
neither it nor the remainder (status − it, never published) is below the threshold, so
subtraction never yields a small count. Differences between nested org units or between
periods are not protected here.
"""

from __future__ import annotations

import calendar
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.scope import get_org_unit
from registry.audit.actions import Action
from registry.clock import today
from registry.context import Context
from registry.errors import RuleViolation
from registry.residence.models import Endorsement, Permit, Registration
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import Basis, PermitStatus, RegistrationStatus, endorsement_due_within, permit_state
from registry.residence.suppression import THRESHOLD, Cell, SuppressedCell, SuppressedRate, rate, suppress

# Arrivals still waiting for (or refused by) the holding unit are no registrations yet (issue 13).
NOT_IN_EFFECT = (RegistrationStatus.pending_transfer, RegistrationStatus.refused, RegistrationStatus.withdrawn)
ENDORSEMENT_DUE_DAYS = 30
PERMIT_STATUSES = (
    PermitStatus.applied,
    PermitStatus.needs_materials,
    PermitStatus.accepted,
    PermitStatus.issued,
    PermitStatus.suspended,
    PermitStatus.rejected,
    PermitStatus.cancelled,
)
_PERIOD = re.compile(r"(?P<year>\d{4})(?:-(?P<month>0[1-9]|1[0-2])|-Q(?P<quarter>[1-4]))?", re.ASCII)
# The same periods as a JSON Schema pattern (year 0000 excluded), for the query's schema.
PERIOD_PATTERN = r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})(-(0[1-9]|1[0-2])|-Q[1-4])?$"


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date  # inclusive


def parse_period(value: str) -> Period:
    """`YYYY`, `YYYY-MM` or `YYYY-Qn`, as the first and last day it covers."""
    match = _PERIOD.fullmatch(value)
    if match is None or int(match["year"]) < 1:
        raise RuleViolation("period: must be YYYY, YYYY-MM or YYYY-Qn")
    year = int(match["year"])
    if match["month"]:
        first_month, months = int(match["month"]), 1
    elif match["quarter"]:
        first_month, months = 3 * int(match["quarter"]) - 2, 3
    else:
        first_month, months = 1, 12
    last_month = first_month + months - 1
    end = date(year, last_month, calendar.monthrange(year, last_month)[1])
    return Period(value, date(year, first_month, 1), end)


@dataclass(frozen=True)
class Window:
    """What every statistic counts over: the unit (in the caller's scope), the period, its
    last counted day (the period's last day, or today if earlier), and the SQL that keeps
    rows to both the caller's scope and the unit's subtree."""

    unit: OrgUnit
    span: Period
    as_of: date
    where: tuple[sa.ColumnElement[bool], ...]


def window(session: Session, ctx: Context, *, org_unit: str, period: str) -> Window:
    """The one opening of every statistic (residence, casefiles, KPIs, reports)."""
    ctx.principal.require(Permission.STATS_READ)
    span = parse_period(period)
    now = today(ctx.clock)
    if span.start > now:
        raise RuleViolation("period: starts in the future")
    unit = get_org_unit(session, ctx.principal.scope, code=org_unit)
    where = (ctx.principal.scope.clause(col(OrgUnit.path)), col(OrgUnit.path).startswith(unit.path))
    return Window(unit, span, min(span.end, now), where)


def residence_stats(session: Session, ctx: Context, policy: ResidencePolicy, *, org_unit: str, period: str) -> dict:
    opened = window(session, ctx, org_unit=org_unit, period=period)
    unit, span, as_of, where = opened.unit, opened.span, opened.as_of, opened.where

    cells: list[SuppressedCell | SuppressedRate] = []
    cells += _registrations(session, where, span)
    cells += _permits(session, where, policy, as_of)
    ctx.audit.append(session, ctx.event(Action.STATS_READ, targets=(unit.code, span.label)))
    return {
        "org_unit": unit.code,
        "period": span.label,
        "as_of": as_of,
        "cells": [{"name": c.name, "value": c.value, "suppressed": c.suppressed} for c in cells],
    }


# -- registrations -----------------------------------------------------------------------


def _registrations(session: Session, where: tuple, span: Period) -> list[SuppressedCell | SuppressedRate]:
    rows = session.exec(
        select(Registration.late, Registration.basis, sa.func.count())
        .join(OrgUnit, OrgUnit.code == Registration.org_unit_code)
        .where(
            *where,
            Registration.registered_on >= span.start,
            Registration.registered_on <= span.end,
            Registration.status.not_in(NOT_IN_EFFECT),  # type: ignore[attr-defined]
        )
        .group_by(Registration.late, Registration.basis)
    ).all()
    late = sum(n for is_late, _, n in rows if is_late)
    total = sum(n for _, _, n in rows)
    by_basis = dict.fromkeys((str(b) for b in Basis), 0)
    for _, basis, n in rows:
        # The API admits only these bases; anything else still counts, as `other`.
        by_basis[basis if basis in by_basis else Basis.other] += n

    timeliness = suppress(
        [
            Cell("registrations.total", total),
            Cell("registrations.timely", total - late),
            Cell("registrations.late", late),
        ],
        total_name="registrations.total",
    )
    bases = suppress(
        [Cell("registrations.total", total)] + [Cell(f"registrations.basis.{b}", n) for b, n in by_basis.items()],
        total_name="registrations.total",
    )
    if timeliness[0].suppressed or bases[0].suppressed:
        # A total hidden by one partition must not be given away by the other's parts.
        timeliness, bases = _hide_all(timeliness), _hide_all(bases)
    total_cell, timely_cell, _ = timeliness
    return [*timeliness, rate("registrations.timely_rate", timely_cell, total_cell), *bases[1:]]


# -- permits -----------------------------------------------------------------------------


def _permits(
    session: Session, where: tuple, policy: ResidencePolicy, as_of: date
) -> list[SuppressedCell | SuppressedRate]:
    counts, overdue = _statuses_on(session, where, policy, as_of)
    issued, suspended, due = _issued_split(session, where, as_of)
    counts[PermitStatus.issued], counts[PermitStatus.suspended] = issued, suspended
    statuses = suppress(
        [Cell("permits.total", sum(counts.values()))]
        + [Cell(f"permits.status.{status}", counts[status]) for status in PERMIT_STATUSES],
        total_name="permits.total",
    )
    published = {cell.name: cell for cell in statuses}
    return [
        *statuses,
        _sub_count(
            "permits.issue_overdue", overdue, published["permits.status.accepted"], counts[PermitStatus.accepted]
        ),
        _sub_count("permits.endorsement_due_30d", due, published["permits.status.issued"], issued),
    ]


def _status_on(as_of: date) -> sa.ColumnElement[str]:
    """A permit's status on `as_of` from its dates (see the module docstring); `issued` here
    still includes the suspended ones, which `_issued_split` tells apart."""
    return sa.case(
        (sa.and_(Permit.cancelled_on.is_not(None), Permit.cancelled_on <= as_of), PermitStatus.cancelled.value),  # type: ignore[union-attr,operator]
        (sa.and_(Permit.issued_on.is_not(None), Permit.issued_on <= as_of), PermitStatus.issued.value),  # type: ignore[union-attr,operator]
        (Permit.status == PermitStatus.rejected, PermitStatus.rejected.value),
        (sa.and_(Permit.accepted_on.is_not(None), Permit.accepted_on <= as_of), PermitStatus.accepted.value),  # type: ignore[union-attr,operator]
        (Permit.status == PermitStatus.needs_materials, PermitStatus.needs_materials.value),
        else_=PermitStatus.applied.value,
    )


def _statuses_on(
    session: Session, where: tuple, policy: ResidencePolicy, as_of: date
) -> tuple[dict[PermitStatus, int], int]:
    status = _status_on(as_of)
    cutoff = as_of - timedelta(days=policy.issue_days)
    late = sa.and_(status == PermitStatus.accepted.value, Permit.accepted_on < cutoff)  # type: ignore[operator]
    # Grouped in an outer query: PostgreSQL would not match a CASE with bound parameters
    # repeated in GROUP BY against the one in the select list.
    per_permit = (
        select(status.label("status"), sa.case((late, 1), else_=0).label("overdue"))
        .select_from(Permit)
        .join(OrgUnit, OrgUnit.code == Permit.org_unit_code)
        .where(*where, Permit.applied_on <= as_of)
        .subquery()
    )
    rows = session.exec(
        select(per_permit.c.status, sa.func.count(), sa.func.sum(per_permit.c.overdue)).group_by(per_permit.c.status)
    ).all()
    counts = dict.fromkeys(PERMIT_STATUSES, 0)
    overdue = 0
    for name, n, n_overdue in rows:
        counts[PermitStatus(name)] = n
        overdue += int(n_overdue or 0)
    return counts, overdue


def _issued_split(session: Session, where: tuple, as_of: date) -> tuple[int, int, int]:
    """(issued, suspended, endorsement due within 30 days) among permits issued on `as_of`."""
    rows = session.exec(
        select(Permit.id, Permit.issued_on, Endorsement.endorsed_on)
        .join(OrgUnit, OrgUnit.code == Permit.org_unit_code)
        .outerjoin(Endorsement, sa.and_(Endorsement.permit_id == Permit.id, Endorsement.endorsed_on <= as_of))
        .where(
            *where,
            Permit.applied_on <= as_of,
            Permit.issued_on.is_not(None),  # type: ignore[union-attr]
            Permit.issued_on <= as_of,  # type: ignore[operator]
            sa.or_(Permit.cancelled_on.is_(None), Permit.cancelled_on > as_of),  # type: ignore[union-attr,operator]
        )
    ).all()
    permits: dict[uuid.UUID, tuple[date, list[date]]] = {}
    for permit_id, issued_on, endorsed_on in rows:
        _, endorsements = permits.setdefault(permit_id, (issued_on, []))
        if endorsed_on is not None:
            endorsements.append(endorsed_on)
    issued = suspended = due = 0
    for issued_on, endorsements in permits.values():
        state = permit_state(issued_on, endorsements, as_of)
        if state.status is PermitStatus.suspended:
            suspended += 1
        else:
            issued += 1
            due += endorsement_due_within(state, as_of, ENDORSEMENT_DUE_DAYS)
    return issued, suspended, due


# -- suppression helpers -----------------------------------------------------------------


def _hide_all(cells: list[SuppressedCell]) -> list[SuppressedCell]:
    return [SuppressedCell(cell.name, None, True) for cell in cells]


def _sub_count(name: str, value: int, parent: SuppressedCell, parent_value: int) -> SuppressedCell:
    """A count of a subset of `parent`'s units: published only when `parent` is and neither
    the count nor its never-published remainder is below the threshold (so `parent` − count
    is not a small number)."""
    (cell,) = suppress([Cell(name, value)], total_name=None)
    if parent.suppressed or cell.suppressed or parent_value - value < THRESHOLD:
        return SuppressedCell(name, None, True)
    return cell
