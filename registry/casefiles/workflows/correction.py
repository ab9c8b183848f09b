"""Community correction (社区矫正法): states, deadlines and hints. Pure functions of dates.

Articles cited are of 社区矫正法 unless named otherwise.

States (DOMAIN.md):
    awaiting_report → received            the subject reports; intake checklist (Art. 22)
    awaiting_report → missing             the report deadline passed (Art. 21, 30)
    missing         → received            found; intake as for a report
    received        → supervised
    supervised      ⇄ detained            detention needs a reason
    supervised      → discharged          term ended and certificate number (Art. 44)
    supervised | detained | missing → revoked   a reason (Art. 45-46, 49); never for 管制 (Art. 28)
    any non-terminal → deceased           (Art. 45)

Decisions beyond DOMAIN.md's diagram, because the law needs them: revocation is also
possible from `detained` (a subject arrested pending revocation, Art. 47) and from
`missing` (an absconder's probation or parole is revoked, Art. 46); death can end the
file in any open state. Loss of contact during supervision is an event (Art. 30 search),
not a return to `missing`: `missing → received` would otherwise repeat an intake.

Electronic monitoring, location tracking and risk scoring are out of scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from enum import StrEnum

from registry.casefiles.workflows.common import (
    Facts,
    Kind,
    Workflow,
    require_date,
    require_flags,
    require_text,
)
from registry.errors import RuleViolation

REPORT_DAYS = 10  # Art. 21: 自判决、裁定生效之日起十日内报到
TRANSFER_REPORT_DAYS = 7  # change of execution place: report to the new office within 7 days
WARNINGS_FOR_PROPOSAL = 2  # Art. 28 hint: two warnings → a revocation may be proposed


class Category(StrEnum):
    control = "control"  # 管制
    probation = "probation"  # 缓刑
    parole = "parole"  # 假释
    temporary_out_of_prison = "temporary_out_of_prison"  # 暂予监外执行


class Status(StrEnum):
    awaiting_report = "awaiting_report"
    missing = "missing"
    received = "received"
    supervised = "supervised"
    detained = "detained"
    discharged = "discharged"
    revoked = "revoked"
    deceased = "deceased"


class Sanction(StrEnum):
    """Art. 28 rewards and sanctions, recorded as events; a person decides each one."""

    praise = "praise"  # 表扬
    reprimand = "reprimand"  # 训诫
    warning = "warning"  # 警告
    revocation_proposal = "revocation_proposal"  # 提请撤销缓刑/假释、收监执行
    police_penalty_proposal = "police_penalty_proposal"  # 提请治安管理处罚


INTAKE_CHECKLIST = ("documents_checked", "identity_verified", "rules_read")  # Art. 22

_S = Status
TERMINAL = frozenset({_S.discharged, _S.revoked, _S.deceased})
TRANSITIONS: dict[tuple[Status, Status], str | None] = {
    (_S.awaiting_report, _S.received): "intake",
    (_S.awaiting_report, _S.missing): "report_overdue",
    (_S.missing, _S.received): "intake",
    (_S.received, _S.supervised): None,
    (_S.supervised, _S.detained): "detention",
    (_S.detained, _S.supervised): None,
    (_S.supervised, _S.discharged): "discharge",
    (_S.supervised, _S.revoked): "revocation",
    (_S.detained, _S.revoked): "revocation",
    (_S.missing, _S.revoked): "revocation",
    **{(s, _S.deceased): "death" for s in (_S.awaiting_report, _S.missing, _S.received, _S.supervised, _S.detained)},
}


# -- deadlines --------------------------------------------------------------------------


def report_due_on(effective_on: date, *, days: int = REPORT_DAYS) -> date:
    """Last day to report (Art. 21). The day of effect is not counted, so a judgment effective
    on the 1st must be answered by the 11th. For `temporary_out_of_prison` pass the day the
    transferring institution received the decision (Art. 21 para. 2-3)."""
    return effective_on + timedelta(days=days)


def is_report_overdue(
    effective_on: date, today: date, *, reported_on: date | None = None, days: int = REPORT_DAYS
) -> bool:
    """Reported after the deadline, or not reported and the deadline has passed."""
    return (reported_on if reported_on is not None else today) > report_due_on(effective_on, days=days)


def transfer_report_due_on(decided_on: date, *, days: int = TRANSFER_REPORT_DAYS) -> date:
    """Last day to report to the new execution place, counted from the day the subject
    received the change decision (Art. 27 para. 2; 7 days)."""
    return decided_on + timedelta(days=days)


def is_transfer_report_overdue(
    decided_on: date, today: date, *, reported_on: date | None = None, days: int = TRANSFER_REPORT_DAYS
) -> bool:
    return (reported_on if reported_on is not None else today) > transfer_report_due_on(decided_on, days=days)


def is_term_ended(term_ends_on: date, on: date) -> bool:
    """The term ends on `term_ends_on` (its last day); discharge is possible from that day."""
    return on >= term_ends_on


# -- transition rules -------------------------------------------------------------------


def _intake(on: date, facts: Facts) -> None:
    """Facts: `documents_checked`, `identity_verified`, `rules_read` — each True (Art. 22)."""
    require_flags(facts, INTAKE_CHECKLIST, "intake", "社区矫正法 Art. 22")


def _report_overdue(on: date, facts: Facts) -> None:
    """Facts: `judgment_effective_on`. Missing only once the report deadline has passed."""
    effective_on = require_date(facts, "judgment_effective_on", "report_overdue")
    if not on > report_due_on(effective_on):
        raise RuleViolation("report_overdue: the report deadline has not passed (社区矫正法 Art. 21)")


def _detention(on: date, facts: Facts) -> None:
    require_text(facts, "reason", "detention", "a detention needs a reason")


def _discharge(on: date, facts: Facts) -> None:
    """Facts: `certificate_no` (解除社区矫正证明书, Art. 44) and `term_ends_on`."""
    require_text(facts, "certificate_no", "discharge", "a discharge needs the certificate number (社区矫正法 Art. 44)")
    if not is_term_ended(require_date(facts, "term_ends_on", "discharge"), on):
        raise RuleViolation("discharge.term_ended: the term has not ended (社区矫正法 Art. 44)")


def check_revocable(category: Category | str | None) -> None:
    """管制 (control) cannot be revoked: 社区矫正法 Art. 28 lists revocation of 缓刑 and 假释 and
    收监执行 of 暂予监外执行 only (also Art. 46, 49); a 管制 subject who breaks the rules
    is proposed for a police penalty instead. Refuses both the `revoked` transition and a
    `revocation_proposal` event. An unknown category (None) is not refused here: the file's
    details always carry one."""
    if category == Category.control:
        raise RuleViolation("revocation.category: 管制 (control) has no revocation (社区矫正法 Art. 28, 46, 49)")


def _revocation(on: date, facts: Facts) -> None:
    """Facts: `reason`; `category` from the file's details (管制 cannot be revoked)."""
    category = facts.get("category")
    check_revocable(category if isinstance(category, str) else None)
    require_text(facts, "reason", "revocation", "a revocation needs a reason (社区矫正法 Art. 45)")


def _death(on: date, facts: Facts) -> None:
    """No fact is required: the event is recorded by a person on an official notice."""


WORKFLOW = Workflow(
    name=Kind.community_correction,
    states=frozenset(Status),
    initial=Status.awaiting_report,
    transitions=TRANSITIONS,
    terminal=TERMINAL,
    rules={
        "intake": _intake,
        "report_overdue": _report_overdue,
        "detention": _detention,
        "discharge": _discharge,
        "revocation": _revocation,
        "death": _death,
    },
)


def check_transition(frm: Status | str, to: Status | str, *, on: date, facts: Facts | None = None) -> None:
    WORKFLOW.check_transition(frm, to, on=on, facts=facts)


# -- team (Art. 25) ---------------------------------------------------------------------


def check_team(subject_sex: str | None, team_member_sexes: Iterable[str | None]) -> None:
    """Art. 25 para. 2: a female subject's correction team includes a female member. A member
    whose sex is not recorded does not count as female."""
    if subject_sex == "female" and "female" not in set(team_member_sexes):
        raise RuleViolation(
            "plan.female_team_member: a female subject's team needs a female member (社区矫正法 Art. 25)"
        )


# -- rewards and sanctions (Art. 28) ----------------------------------------------------


def sanction_hints(events: Sequence[tuple[str, date]], *, category: Category | str | None = None) -> list[str]:
    """Counting hints for the officer; the system never decides (a person does, and the
    decision is an event). Events of other types are ignored.

    - two or more warnings → `revocation_may_be_proposed`, unless a revocation proposal was
      recorded on or after the latest warning. A `control` (管制) sentence cannot be revoked:
      its hint is `police_penalty_may_be_proposed` (Art. 28: 提请公安机关予以治安管理处罚),
      silenced the same way by a `police_penalty_proposal`.
    Praise and reprimands are counted by the caller if it wants to show them; they give no hint.
    """
    warnings = sorted(on for kind, on in events if kind == Sanction.warning)
    if len(warnings) < WARNINGS_FOR_PROPOSAL:
        return []
    if category == Category.control:
        hint, answered_by = "police_penalty_may_be_proposed", Sanction.police_penalty_proposal
    else:
        hint, answered_by = "revocation_may_be_proposed", Sanction.revocation_proposal
    if any(kind == answered_by and on >= warnings[-1] for kind, on in events):
        return []
    return [hint]
