"""Monthly reports per unit (issue 15): the unit's statistics and KPIs for a month that has
ended, as its department (the submitting role) sees them, submitted to the unit above.

Submitting freezes the cells: canonical JSON, its SHA-256 in a signed note under the audit
signing key, a row that is never updated (the service may only insert it). A revision is a
new version with a coded reason; both are kept, and every read checks the signature and the
hash. Suppression also protects the difference between a revision and its predecessor: when
a count published in both differs by less than the threshold (one late record, say), every
cell of its table is suppressed in the revision, so the difference cannot be read off.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission, Role
from registry.access.scope import get_org_unit
from registry.audit.actions import Action
from registry.audit.checkpoints import CheckpointError, open_note, sign_note
from registry.audit.models import AuditEntry
from registry.casefiles.stats import casefile_stats
from registry.clock import today
from registry.context import Context
from registry.errors import Conflict, Forbidden, NotFound, RuleViolation
from registry.kpis import kpis
from registry.reports.models import MonthlyReport
from registry.residence.policy import ResidencePolicy
from registry.residence.stats import parse_period, residence_stats
from registry.residence.suppression import THRESHOLD

DEPARTMENTS = (Role.POLICE, Role.CIVIL_AFFAIRS, Role.CORRECTIONS)
FIRST_YEAR = 2000  # no unit reports a month before the service could hold its records


class RevisionReason(StrEnum):
    late_records = "late_records"  # records of the month entered after it was submitted
    corrected_records = "corrected_records"  # records of the month corrected since
    erased_records = "erased_records"  # records erased or withdrawn by a decision
    unit_reorganised = "unit_reorganised"  # the unit's subtree changed


Cells = list[dict[str, Any]]


class Signer:
    """The audit signing key and its name (the checkpoint origin)."""

    def __init__(self, sign: Callable[[bytes], bytes], public_key: Ed25519PublicKey, name: str) -> None:
        self.sign, self.public_key, self.name = sign, public_key, name


def draft(
    session: Session,
    ctx: Context,
    signer: Signer,
    policy: ResidencePolicy,
    *,
    org_unit: str,
    period: str,
    department: str,
    handover_days: int,
) -> dict[str, Any]:
    """The month's cells as the caller sees them now (not stored, not signed). Once the month
    is submitted, a table that moved by less than the threshold from any submitted version is
    not published, here as in a revision."""
    _check_department(ctx, department, org_unit)
    # The department's own view: an account's other roles (another department's kinds) never
    # widen a report that every reader of that department will see.
    ctx = dataclasses.replace(ctx, principal=dataclasses.replace(ctx.principal, roles=frozenset({Role(department)})))
    span = parse_period(period)
    if span.start.day != 1 or span.start.month != span.end.month:
        raise RuleViolation("period: a monthly report is for one month, YYYY-MM")
    if span.end >= today(ctx.clock):
        raise RuleViolation("period: a month is reported once it has ended")
    if span.start.year < FIRST_YEAR:
        raise RuleViolation(f"period: reports begin in {FIRST_YEAR}")
    cells: Cells = []
    if ctx.principal.can(Permission.RESIDENCE_READ):
        cells += residence_stats(session, ctx, policy, org_unit=org_unit, period=period)["cells"]
    cells += casefile_stats(session, ctx, org_unit=org_unit, period=period)["cells"]
    cells += kpis(session, ctx, org_unit=org_unit, period=period, handover_days=handover_days)["cells"]
    submitted = _chain(session, ctx, signer, org_unit, span.label, department)
    cells = protect_differences([json.loads(r.content)["cells"] for r in submitted], cells)
    return {"org_unit": org_unit, "period": span.label, "department": department, "as_of": str(span.end)} | {
        "cells": cells
    }


def _own_unit(ctx: Context, org_unit: str, *also: str) -> None:
    """A unit reports for itself: the unit above reads its reports, it does not author them."""
    if ctx.principal.org_unit_code != org_unit:
        raise Forbidden("org_unit: a unit submits and revises its own report", targets=(*also, org_unit))


def submit(session: Session, ctx: Context, signer: Signer, content: dict[str, Any]) -> MonthlyReport:
    unit = get_org_unit(session, ctx.principal.scope, code=content["org_unit"])
    _own_unit(ctx, unit.code)
    if _chain(session, ctx, signer, unit.code, content["period"], content["department"]):
        raise Conflict("report.submitted: this month is submitted; send a revision instead")
    return _store(session, ctx, signer, content, previous=None, reason_code=None, reference=None)


def revise(
    session: Session,
    ctx: Context,
    signer: Signer,
    previous: MonthlyReport,
    content: dict[str, Any],
    *,
    reason_code: RevisionReason,
    reference: str | None,
) -> MonthlyReport:
    """`content` from `draft`, which already protects the differences to every version."""
    _own_unit(ctx, previous.org_unit_code, str(previous.id))
    chain = _chain(session, ctx, signer, previous.org_unit_code, previous.period, previous.department)
    if chain[-1].id != previous.id:
        raise Conflict("report.superseded: revise the newest version")
    return _store(session, ctx, signer, content, previous=previous, reason_code=str(reason_code), reference=reference)


def _store(
    session: Session,
    ctx: Context,
    signer: Signer,
    content: dict[str, Any],
    *,
    previous: MonthlyReport | None,
    reason_code: str | None,
    reference: str | None,
) -> MonthlyReport:
    report_id, now = uuid.uuid4(), ctx.clock.now()
    # Everything the row says of itself is inside the signed content, the predecessor by hash.
    content = content | {
        "id": str(report_id),
        "version": 1 if previous is None else previous.version + 1,
        "supersedes": None if previous is None else str(previous.id),
        "supersedes_sha256": None if previous is None else previous.content_hash.hex(),
        "reason_code": reason_code,
        "reference": reference,
        "submitted_by": str(ctx.principal.account_id),
        "submitted_at": now.isoformat(),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    report = MonthlyReport(
        id=report_id,
        org_unit_code=content["org_unit"],
        period=content["period"],
        department=content["department"],
        version=content["version"],
        supersedes=None if previous is None else previous.id,
        reason_code=reason_code,
        reference=reference,
        content=canonical,
        content_hash=digest,
        signed_note=sign_note(
            _note_text(signer.name, content, digest),
            name=signer.name,
            sign=signer.sign,
            public_key=signer.public_key,
        ),
        submitted_by=content["submitted_by"],
        submitted_at=now,
    )
    session.add(report)
    session.flush()
    action = Action.REPORT_SUBMIT if previous is None else Action.REPORT_REVISE
    targets = (str(report.id), report.org_unit_code, f"v{report.version}", *([reason_code] if reason_code else []))
    ctx.audit.append(
        session,
        ctx.event(action, targets=targets, reason=_month_key(report.org_unit_code, report.period, report.department)),
    )
    return report


def _month_key(org_unit: str, period: str, department: str) -> str:
    """The `reason` of a report's submit and revise entries: `_chain` finds every version
    the log knows of by it, in SQL (a code, a month and a role: no personal data)."""
    return f"{org_unit} {period} {department}"


def _note_text(name: str, content: dict[str, Any], digest: bytes) -> str:
    what = f"monthly-report {content['org_unit']} {content['period']} {content['department']} v{content['version']}"
    return f"{name}\n{what}\nid {content['id']}\nsha256 {base64.b64encode(digest).decode('ascii')}\n"


def read(session: Session, ctx: Context, signer: Signer, report_id: uuid.UUID) -> tuple[MonthlyReport, dict[str, Any]]:
    """The report and its content, once every version of its month verifies (409 otherwise)."""
    report = readable(session, ctx, report_id)
    _chain(session, ctx, signer, report.org_unit_code, report.period, report.department)
    ctx.audit.append(session, ctx.event(Action.REPORT_READ, targets=(str(report.id),)))
    return report, json.loads(report.content)


def _chain(
    session: Session, ctx: Context, signer: Signer, org_unit: str, period: str, department: str
) -> list[MonthlyReport]:
    """Every version of the month, oldest first, each intact and linked to the one before by
    hash, and none missing that the audit log saw submitted; 409 (audited) otherwise."""
    rows = list(
        session.exec(
            select(MonthlyReport)
            .where(
                col(MonthlyReport.org_unit_code) == org_unit,
                col(MonthlyReport.period) == period,
                col(MonthlyReport.department) == department,
            )
            .order_by(col(MonthlyReport.version))
        )
    )
    previous: MonthlyReport | None = None
    for position, row in enumerate(rows, start=1):
        if row.version != position or not _intact(signer, row, previous):
            _broken(row.id)
        previous = row
    logged = session.exec(
        select(AuditEntry.targets).where(
            col(AuditEntry.action).in_((Action.REPORT_SUBMIT, Action.REPORT_REVISE)),
            col(AuditEntry.reason) == _month_key(org_unit, period, department),
        )
    ).all()
    known = {str(r.id) for r in rows}
    for targets in logged:
        named = targets[0] if isinstance(targets, list) and targets and isinstance(targets[0], str) else None
        if named not in known:  # a version the log saw submitted is gone (or the entry is not ours)
            _broken(rows[-1].id if rows else None)
    return rows


def _broken(report_id: uuid.UUID | None) -> NoReturn:
    raise Conflict(
        "report.integrity: a stored version does not match its signed note, or is missing",
        audit_as=Action.INTEGRITY_FAILURE,
        targets=() if report_id is None else (str(report_id),),
    )


def _intact(signer: Signer, report: MonthlyReport, previous: MonthlyReport | None) -> bool:
    digest = hashlib.sha256(report.content.encode("utf-8")).digest()
    if digest != report.content_hash:
        return False
    try:
        text = open_note(report.signed_note, public_key=signer.public_key, name=signer.name)
        content = json.loads(report.content)
        stated = (
            content["id"],
            content["org_unit"],
            content["period"],
            content["department"],
            content["version"],
            content["supersedes"],
            content["supersedes_sha256"],
            content["reason_code"],
            content["reference"],
            content["submitted_by"],
            content["submitted_at"],
        )
    except (CheckpointError, ValueError, KeyError, TypeError):
        return False
    stored = (
        str(report.id),
        report.org_unit_code,
        report.period,
        report.department,
        report.version,
        None if report.supersedes is None else str(report.supersedes),
        None if previous is None else previous.content_hash.hex(),
        report.reason_code,
        report.reference,
        report.submitted_by,
        report.submitted_at.isoformat(),
    )
    linked = (previous is None) == (report.supersedes is None) and (
        previous is None or report.supersedes == previous.id
    )
    return text == _note_text(signer.name, content, digest) and stated == stored and linked


def readable(session: Session, ctx: Context, report_id: uuid.UUID) -> MonthlyReport:
    """A report of a unit in the caller's scope and of a department the caller belongs to;
    any other is the same 404 as none."""
    ctx.principal.require(Permission.STATS_READ)
    report = session.exec(
        select(MonthlyReport)
        .join(OrgUnit, col(OrgUnit.code) == col(MonthlyReport.org_unit_code))
        .where(col(MonthlyReport.id) == report_id, ctx.principal.scope.clause(col(OrgUnit.path)))
    ).first()
    if report is None or report.department not in ctx.principal.roles:
        raise NotFound("report not found", targets=(str(report_id),))
    return report


def versions(
    session: Session, ctx: Context, signer: Signer, *, org_unit: str, period: str, department: str
) -> list[MonthlyReport]:
    _check_department(ctx, department, org_unit)
    unit = get_org_unit(session, ctx.principal.scope, code=org_unit)
    rows = _chain(session, ctx, signer, unit.code, period, department)
    ctx.audit.append(session, ctx.event(Action.REPORT_READ, targets=tuple(str(r.id) for r in rows)))
    return rows


def _check_department(ctx: Context, department: str, org_unit: str) -> None:
    """The refusals name the unit: a submission carries it in its body, where the request's
    own ids (path, query) would not find it."""
    if not ctx.principal.can(Permission.STATS_READ):
        raise Forbidden(f"the role may not {Permission.STATS_READ}", targets=(org_unit,))
    if department not in DEPARTMENTS:
        raise RuleViolation(f"department: one of {', '.join(DEPARTMENTS)}", targets=(org_unit,))
    if department not in ctx.principal.roles:
        raise Forbidden("department: a report is submitted and read by its own department", targets=(org_unit,))


def _table(name: str) -> str:
    """The table a cell belongs to: its partition and everything derived from it."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] in ("casefiles", "kpi") else parts[0]


def protect_differences(submitted: list[Cells], after: Cells) -> Cells:
    """`after`, with every cell of a table suppressed where, against any submitted version,
    a count published in both moved by less than the threshold, or so did a quantity a
    reader can derive from them: one count's move less the moves of others of its table
    (a KPI's remainder, a total less its published parts). A table too large to search
    is suppressed on any move (module docstring)."""
    small: set[str] = set()
    for before in submitted:
        old = {c["name"]: c["value"] for c in before if not c["suppressed"] and isinstance(c["value"], int)}
        moves: dict[str, list[int]] = {}
        for c in after:
            if not c["suppressed"] and isinstance(c["value"], int) and c["name"] in old:
                moves.setdefault(_table(c["name"]), []).append(c["value"] - old[c["name"]])
        small |= {table for table, moved in moves.items() if _reveals_a_small_move(moved)}
    return [{"name": c["name"], "value": None, "suppressed": True} if _table(c["name"]) in small else c for c in after]


_SEARCHABLE = 14  # cells of one table whose sums are searched (2^13 subsets each at most)


def _reveals_a_small_move(moved: list[int]) -> bool:
    if not any(moved):
        return False
    if len(moved) > _SEARCHABLE:
        return True
    for i, move in enumerate(moved):
        others = moved[:i] + moved[i + 1 :]
        for size in range(len(others) + 1):
            for chosen in itertools.combinations(others, size):
                if 0 < abs(move - sum(chosen)) < THRESHOLD:
                    return True
    return False
