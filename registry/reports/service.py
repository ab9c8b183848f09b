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
import hashlib
import json
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission, Role
from registry.access.scope import get_org_unit
from registry.audit.actions import Action
from registry.audit.checkpoints import CheckpointError, open_note, sign_note
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
    policy: ResidencePolicy,
    *,
    org_unit: str,
    period: str,
    department: str,
    handover_days: int,
) -> dict[str, Any]:
    """The month's cells as the caller sees them now (not stored, not signed)."""
    _check_department(ctx, department)
    span = parse_period(period)
    if span.start.day != 1 or span.start.month != span.end.month:
        raise RuleViolation("period: a monthly report is for one month, YYYY-MM")
    if span.end >= today(ctx.clock):
        raise RuleViolation("period: a month is reported once it has ended")
    cells: Cells = []
    if ctx.principal.can(Permission.RESIDENCE_READ):
        cells += residence_stats(session, ctx, policy, org_unit=org_unit, period=period)["cells"]
    cells += casefile_stats(session, ctx, org_unit=org_unit, period=period)["cells"]
    cells += kpis(session, ctx, org_unit=org_unit, period=period, handover_days=handover_days)["cells"]
    return {
        "org_unit": org_unit,
        "period": span.label,
        "department": department,
        "as_of": str(span.end),
        "cells": cells,
    }


def submit(
    session: Session, ctx: Context, signer: Signer, content: dict[str, Any], *, version: int = 1
) -> MonthlyReport:
    unit = get_org_unit(session, ctx.principal.scope, code=content["org_unit"])
    if _latest(session, unit.code, content["period"], content["department"]) is not None:
        raise Conflict("report.submitted: this month is submitted; send a revision instead")
    return _store(session, ctx, signer, content | {"version": version, "supersedes": None, "reason_code": None})


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
    latest = _latest(session, previous.org_unit_code, previous.period, previous.department)
    if latest is None or latest.id != previous.id:
        raise Conflict("report.superseded: revise the newest version")
    before = json.loads(previous.content)["cells"]
    content = content | {
        "cells": protect_differences(before, content["cells"]),
        "version": previous.version + 1,
        "supersedes": str(previous.id),
        "reason_code": str(reason_code),
        "reference": reference,
    }
    return _store(session, ctx, signer, content)


def _store(session: Session, ctx: Context, signer: Signer, content: dict[str, Any]) -> MonthlyReport:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    now = ctx.clock.now()
    report = MonthlyReport(
        org_unit_code=content["org_unit"],
        period=content["period"],
        department=content["department"],
        version=content["version"],
        supersedes=uuid.UUID(content["supersedes"]) if content["supersedes"] else None,
        reason_code=content["reason_code"],
        reference=content.get("reference"),
        content=canonical,
        content_hash=digest,
        signed_note=sign_note(
            _note_text(signer.name, content, digest, int(now.timestamp())),
            name=signer.name,
            sign=signer.sign,
            public_key=signer.public_key,
        ),
        submitted_by=str(ctx.principal.account_id),
        submitted_at=now,
    )
    session.add(report)
    session.flush()
    action = Action.REPORT_SUBMIT if report.version == 1 else Action.REPORT_REVISE
    targets = (str(report.id), report.org_unit_code, report.period, f"v{report.version}")
    ctx.audit.append(session, ctx.event(action, targets=targets, reason=report.reason_code))
    return report


def _note_text(name: str, content: dict[str, Any], digest: bytes, timestamp: int) -> str:
    what = f"monthly-report {content['org_unit']} {content['period']} {content['department']} v{content['version']}"
    return f"{name}\n{what}\nsha256 {base64.b64encode(digest).decode('ascii')}\ntimestamp {timestamp}\n"


def read(session: Session, ctx: Context, signer: Signer, report_id: uuid.UUID) -> tuple[MonthlyReport, dict[str, Any]]:
    """The report and its content, once its signature and hash verify (409 otherwise)."""
    report = readable(session, ctx, report_id)
    if not _intact(signer, report):
        raise Conflict(
            "report.integrity: the stored report does not match its signed note",
            audit_as=Action.INTEGRITY_FAILURE,
            targets=(str(report.id),),
        )
    ctx.audit.append(session, ctx.event(Action.REPORT_READ, targets=(str(report.id),)))
    return report, json.loads(report.content)


def _intact(signer: Signer, report: MonthlyReport) -> bool:
    try:
        text = open_note(report.signed_note, public_key=signer.public_key, name=signer.name)
    except CheckpointError:
        return False
    content = json.loads(report.content)
    digest = hashlib.sha256(report.content.encode("utf-8")).digest()
    expected = _note_text(signer.name, content, digest, 0).rsplit("timestamp", 1)[0]
    fields = (content["org_unit"], content["period"], content["department"], content["version"])
    stored = (report.org_unit_code, report.period, report.department, report.version)
    return digest == report.content_hash and text.startswith(expected) and fields == stored


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


def versions(session: Session, ctx: Context, *, org_unit: str, period: str, department: str) -> list[MonthlyReport]:
    _check_department(ctx, department)
    unit = get_org_unit(session, ctx.principal.scope, code=org_unit)
    rows = list(
        session.exec(
            select(MonthlyReport)
            .where(
                col(MonthlyReport.org_unit_code) == unit.code,
                col(MonthlyReport.period) == period,
                col(MonthlyReport.department) == department,
            )
            .order_by(col(MonthlyReport.version))
        )
    )
    ctx.audit.append(session, ctx.event(Action.REPORT_READ, targets=tuple(str(r.id) for r in rows)))
    return rows


def _latest(session: Session, org_unit: str, period: str, department: str) -> MonthlyReport | None:
    return session.exec(
        select(MonthlyReport)
        .where(
            col(MonthlyReport.org_unit_code) == org_unit,
            col(MonthlyReport.period) == period,
            col(MonthlyReport.department) == department,
        )
        .order_by(col(MonthlyReport.version).desc())
    ).first()


def _check_department(ctx: Context, department: str) -> None:
    ctx.principal.require(Permission.STATS_READ)
    if department not in DEPARTMENTS:
        raise RuleViolation(f"department: one of {', '.join(DEPARTMENTS)}")
    if department not in ctx.principal.roles:
        raise Forbidden("department: a report is submitted and read by its own department")


def _table(name: str) -> str:
    """The table a cell belongs to: its partition and everything derived from it."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] in ("casefiles", "kpi") else parts[0]


def protect_differences(before: Cells, after: Cells) -> Cells:
    """`after`, with every cell of a table suppressed where a count published in both
    versions moved by less than the threshold (module docstring)."""
    old = {c["name"]: c["value"] for c in before if not c["suppressed"]}
    small = {
        _table(c["name"])
        for c in after
        if not c["suppressed"]
        and isinstance(c["value"], int)
        and isinstance(old.get(c["name"]), int)
        and 0 < abs(c["value"] - old[c["name"]]) < THRESHOLD
    }
    return [{"name": c["name"], "value": None, "suppressed": True} if _table(c["name"]) in small else c for c in after]
