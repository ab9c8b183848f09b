"""Casefile statistics per org unit subtree and period: files by kind and current state,
only for the kinds the caller's role may know of (a residence-only role gets no cell that
could reveal a casefile exists), with small-cell and complementary suppression."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from registry.access.models import OrgUnit
from registry.audit.actions import Action
from registry.casefiles.access import kinds_known_to
from registry.casefiles.models import Casefile
from registry.casefiles.workflows import WORKFLOWS
from registry.casefiles.workflows.common import Kind
from registry.context import Context
from registry.residence.stats import window
from registry.residence.suppression import Cell, suppress


def casefile_stats(session: Session, ctx: Context, *, org_unit: str, period: str) -> dict:  # type: ignore[type-arg]
    """Files open at some time in the period (opened by its end, not closed before its
    start), counted by their state on `as_of`; sealed and erased files included as counts."""
    opened = window(session, ctx, org_unit=org_unit, period=period)
    unit, span, as_of = opened.unit, opened.span, opened.as_of
    kinds = sorted(kinds_known_to(ctx.principal))
    counts: dict[tuple[str, str], int] = {}
    if kinds:
        rows = session.execute(
            sa.select(Casefile.kind, Casefile.status, sa.func.count())
            .join(OrgUnit, OrgUnit.code == Casefile.org_unit_code)
            .where(
                *opened.where,
                Casefile.kind.in_(kinds),  # type: ignore[attr-defined]
                Casefile.opened_on <= span.end,
                sa.or_(Casefile.closed_on.is_(None), Casefile.closed_on >= span.start),  # type: ignore[union-attr,operator]
            )
            .group_by(Casefile.kind, Casefile.status)
        )
        counts = {(kind, status): n for kind, status, n in rows}
    cells = []
    for kind in kinds:
        states = sorted(WORKFLOWS[Kind(kind)].states)
        parts = [Cell(f"casefiles.{kind}.status.{s}", counts.get((kind, s), 0)) for s in states]
        total = Cell(f"casefiles.{kind}.total", sum(c.value for c in parts))
        cells += suppress([total, *parts], total_name=total.name)
    ctx.audit.append(session, ctx.event(Action.STATS_READ, targets=(unit.code, span.label, "casefiles")))
    return {
        "org_unit": unit.code,
        "period": span.label,
        "as_of": as_of,
        "cells": [{"name": c.name, "value": c.value, "suppressed": c.suppressed} for c in cells],
    }
