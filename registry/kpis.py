"""The KPIs of the seed documents, per org unit subtree and period, each described once
here: its name, its definition (the README's "KPIs" section carries each verbatim, and a
test holds it there), who may see it, and the counting behind it.

Every KPI is a numerator that is a subset of its denominator, counted from plain columns
only (no sealed value is opened). Both counts are published with small-cell suppression
(`residence.suppression`: the denominator is the total, numerator and remainder its
parts) and the rate only when both are. Counts are of files, dwellings and registrations
per unit, never a score of a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.principal import Principal
from registry.audit.actions import Action
from registry.casefiles.access import kinds_known_to
from registry.casefiles.models import Casefile, CasefileEvent
from registry.casefiles.workflows.common import Kind
from registry.context import Context
from registry.residence import measures
from registry.residence.models import Dwelling, Registration
from registry.residence.stats import NOT_IN_EFFECT, Period, window
from registry.residence.suppression import Cell, SuppressedCell, SuppressedRate, rate, suppress

Where = tuple[sa.ColumnElement[bool], ...]


@dataclass(frozen=True)
class Span:
    """What one computation counts over: the caller's scope within the unit's subtree, the
    period and its last counted day, and the settings a definition names."""

    where: Where
    period: Period
    as_of: date
    handover_days: int


Counter = Callable[[Session, Span], tuple[int, int]]  # (numerator, denominator)


@dataclass(frozen=True)
class Kpi:
    name: str
    definition: str
    visible: Callable[[Principal], bool]
    count: Counter
    per: int = 1  # 1000: a rate per thousand


def _residence(principal: Principal) -> bool:
    return principal.can(Permission.RESIDENCE_READ)


def _knows(*kinds: Kind) -> Callable[[Principal], bool]:
    return lambda principal: set(kinds) <= kinds_known_to(principal)


def _count(session: Session, query: sa.Select[Any]) -> int:
    return int(session.execute(query).scalar_one())


def _of_units(model: type, span: Span) -> sa.Select[Any]:
    return (
        sa.select(sa.func.count())
        .select_from(model)
        .join(OrgUnit, col(OrgUnit.code) == model.org_unit_code)  # type: ignore[attr-defined]
        .where(*span.where)
    )


def _reached(state: str, by: Any) -> sa.ColumnElement[bool]:
    """The file reached `state` on or before `by` (a transition's plain `moved_to`)."""
    return sa.exists().where(
        col(CasefileEvent.casefile_id) == col(Casefile.id),
        col(CasefileEvent.moved_to) == state,
        col(CasefileEvent.occurred_on) <= by,
    )


def _event_in(kind: str, period: Period) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        col(CasefileEvent.casefile_id) == col(Casefile.id),
        col(CasefileEvent.type) == kind,
        col(CasefileEvent.occurred_on).between(period.start, period.end),
    )


def _fraction(session: Session, base: sa.Select[Any], numerator: sa.ColumnElement[bool]) -> tuple[int, int]:
    return _count(session, base.where(numerator)), _count(session, base)


# -- residence -------------------------------------------------------------------------


def _registered_in_time(session: Session, span: Span) -> tuple[int, int]:
    base = _of_units(Registration, span).where(
        col(Registration.registered_on).between(span.period.start, span.period.end),
        col(Registration.status).not_in(NOT_IN_EFFECT),
    )
    return _fraction(session, base, ~col(Registration.late))


def _pledged(session: Session, span: Span) -> tuple[int, int]:
    base = _of_units(Dwelling, span).where(measures.let_rental(span.as_of))
    return _fraction(session, base, measures.pledged(span.as_of))


def _in_dormitories(session: Session, span: Span) -> tuple[int, int]:
    base = _of_units(Registration, span).where(measures.in_effect(span.as_of))
    dormitory = sa.exists().where(
        col(Dwelling.id) == col(Registration.dwelling_id), col(Dwelling.kind) == measures.DORMITORY
    )
    return _fraction(session, base, dormitory)


# -- casefiles -------------------------------------------------------------------------


def _files(span: Span, *kinds: Kind) -> sa.Select[Any]:
    return _of_units(Casefile, span).where(col(Casefile.kind).in_(kinds))


def _released(span: Span) -> sa.Select[Any]:
    return _files(span, Kind.resettlement).where(col(Casefile.released_on).between(span.period.start, span.period.end))


def _handed_over(session: Session, span: Span) -> tuple[int, int]:
    # The deadline is a date plus days, which the two engines spell differently: the
    # released files and the days they moved on are read (ids and dates) and compared here.
    released = _released(span).with_only_columns(col(Casefile.id), col(Casefile.released_on)).subquery()
    moved = session.execute(
        sa.select(released.c.id, released.c.released_on, sa.func.min(col(CasefileEvent.occurred_on)))
        .select_from(released)
        .outerjoin(
            CasefileEvent,
            sa.and_(
                col(CasefileEvent.casefile_id) == released.c.id,
                col(CasefileEvent.moved_to).in_(("handed_over", "assisting")),
            ),
        )
        .group_by(released.c.id, released.c.released_on)
    ).all()
    days = timedelta(days=span.handover_days)
    return sum(first is not None and first <= on + days for _, on, first in moved), len(moved)


def _met_on_release(session: Session, span: Span) -> tuple[int, int]:
    key_persons = _released(span).where(col(Casefile.handover_due_on).is_not(None))
    return _fraction(session, key_persons, _reached("handed_over", col(Casefile.released_on)))


def _intake_on_time(session: Session, span: Span) -> tuple[int, int]:
    due = _files(span, Kind.community_correction).where(
        col(Casefile.report_due_on).between(span.period.start, span.period.end)
    )
    return _fraction(session, due, _reached("received", col(Casefile.report_due_on)))


def _under_supervision_or_assistance(span: Span) -> sa.Select[Any]:
    """Correction files received, and resettlement files released, by the period's end and
    not closed before it began."""
    started = sa.or_(
        sa.and_(col(Casefile.kind) == Kind.community_correction, _reached("received", span.period.end)),
        sa.and_(col(Casefile.kind) == Kind.resettlement, col(Casefile.released_on) <= span.period.end),
    )
    return _files(span, Kind.community_correction, Kind.resettlement).where(
        started, sa.or_(col(Casefile.closed_on).is_(None), col(Casefile.closed_on) >= span.period.start)
    )


def _reoffended(session: Session, span: Span) -> tuple[int, int]:
    return _fraction(session, _under_supervision_or_assistance(span), _event_in("new_offence", span.period))


def _placed(session: Session, span: Span) -> tuple[int, int]:
    assisting = _files(span, Kind.resettlement).where(
        _reached("assisting", span.period.end),
        sa.or_(col(Casefile.closed_on).is_(None), col(Casefile.closed_on) >= span.period.start),
    )
    return _fraction(session, assisting, _event_in("placement", span.period))


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "registration_within_3_days",
        "Registrations reported within 3 days of arrival ÷ registrations with `registered_on` in the period "
        "(暂住登记: 3 days, REGISTRY_REGISTRATION_REPORT_DAYS).",
        _residence,
        _registered_in_time,
    ),
    Kpi(
        "landlord_pledge_rate",
        "Rental dwellings lived in on the period's last day whose landlord had signed the security "
        "responsibility pledge by then ÷ rental dwellings lived in on that day (责任书签订率).",
        _residence,
        _pledged,
    ),
    Kpi(
        "dormitory_share",
        "Registrations in effect on the period's last day in dormitory dwellings ÷ registrations in "
        "effect on that day (三集中).",
        _residence,
        _in_dormitories,
    ),
    Kpi(
        "release_handover_rate",
        "Resettlement files released in the period that were handed over or assisting within "
        "REGISTRY_KPI_HANDOVER_DAYS (30) days of release ÷ resettlement files released in the period (衔接率).",
        _knows(Kind.resettlement),
        _handed_over,
    ),
    Kpi(
        "key_persons_met_on_release",
        "Key persons released in the period who were handed over on the day of release ÷ key persons "
        "released in the period (必接必送).",
        _knows(Kind.resettlement),
        _met_on_release,
    ),
    Kpi(
        "correction_intake_on_time",
        "Community-correction files whose report deadline falls in the period and that were received by "
        "that deadline ÷ community-correction files whose report deadline falls in the period (社区矫正法 Art. 21).",
        _knows(Kind.community_correction),
        _intake_on_time,
    ),
    Kpi(
        "reoffence_per_1000",
        "Files with a new offence recorded in the period (a `new_offence` event; a revocation for a new "
        "offence records one) per 1,000 files under supervision (received) or assistance (released) in "
        "the period; counts per unit, never a score of a person.",
        _knows(Kind.community_correction, Kind.resettlement),
        _reoffended,
        per=1000,
    ),
    Kpi(
        "placement_rate",
        "Resettlement files assisting in the period with a `placement` event in the period ÷ resettlement "
        "files assisting in the period (安置就业率).",
        _knows(Kind.resettlement),
        _placed,
    ),
)


def kpi_cells(kpi: Kpi, numerator: int, denominator: int) -> list[SuppressedCell | SuppressedRate]:
    """Numerator, denominator and rate, suppressed as one partition (the remainder is never
    published); the rate only when both counts are published."""
    den, num, _ = suppress(
        [
            Cell(f"kpi.{kpi.name}.denominator", denominator),
            Cell(f"kpi.{kpi.name}.numerator", numerator),
            Cell(f"kpi.{kpi.name}.remainder", denominator - numerator),
        ],
        total_name=f"kpi.{kpi.name}.denominator",
    )
    ratio = rate(f"kpi.{kpi.name}.rate", num, den)
    if kpi.per != 1 and ratio.value is not None:
        ratio = SuppressedRate(ratio.name, round(ratio.value * kpi.per, 1), False)
    return [num, den, ratio]


def kpis(session: Session, ctx: Context, *, org_unit: str, period: str, handover_days: int) -> dict:  # type: ignore[type-arg]
    """The KPIs the caller's role may see, for the unit's subtree within its scope."""
    opened = window(session, ctx, org_unit=org_unit, period=period)
    unit, span = opened.unit, opened.span
    counted = Span(opened.where, span, opened.as_of, handover_days)
    cells: list[SuppressedCell | SuppressedRate] = []
    for kpi in KPIS:
        if kpi.visible(ctx.principal):
            cells += kpi_cells(kpi, *kpi.count(session, counted))
    ctx.audit.append(session, ctx.event(Action.STATS_READ, targets=(unit.code, span.label, "kpis")))
    return {
        "org_unit": unit.code,
        "period": span.label,
        "as_of": counted.as_of,
        "cells": [{"name": c.name, "value": c.value, "suppressed": c.suppressed} for c in cells],
    }
