"""The casefile event catalogue: every event type of every kind, described once (issue 14).

Each entry names the type's body model (its JSON Schema is generated into
`schemas/casefile.<kind>.event.<type>.json`), the roles that may record it through the API,
the lowest org-unit level the law names for it, and the hint it counts toward. A type with
no recorders is written by the service itself (transitions, closures, transfers, overdue
leave) and cannot be posted. A type that is not here, or a body key that is not in its
model, is refused: a list of names with free bodies was the toy version.

Hard scope limits (DOMAIN.md, Person): no ethnicity, religion, belief, political opinion,
petition, location tracking or risk-scoring field in any body, and no type for them
(`gps_check` does not exist; 社区矫正法 Art. 29's electronic monitoring is out of scope).
`FORBIDDEN_WORDS` is checked against every type and key by the tests.

Pure: no database, no clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from registry.access.policy import Role
from registry.casefiles.leave import ApprovalLevel
from registry.casefiles.workflows.common import Kind, inclusive_days
from registry.casefiles.workflows.correction import Sanction
from registry.casefiles.workflows.drug import ABSENCE_REPORT_DAYS
from registry.errors import RuleViolation
from registry.fields import OrgUnitCode

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DocumentNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
State = Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")]

# Words no type or key may contain (scope limits above); the tests walk the catalogue.
FORBIDDEN_WORDS = (
    "ethnic",
    "religio",
    "belief",
    "faith",
    "politic",
    "party",
    "petition",
    "gps",
    "location",
    "geo",
    "track",
    "risk",
    "score",
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- bodies of recorded events ---------------------------------------------------------


class VisitBody(_Body):
    """A home or workplace visit (社区矫正法 Art. 26 实地查访; 安置帮教 Art. 8; 戒毒条例 Art. 18)."""

    note: Note | None = None


class ReportBody(_Body):
    """The subject's periodic report of their activities (社区矫正法 Art. 23)."""

    summary: Note | None = None


class EducationBody(_Body):
    """Education or counselling (社区矫正法 Art. 36; 戒毒条例 Art. 18(1)-(2))."""

    topic: Topic | None = None
    note: Note | None = None


class CorrectionMeasure(StrEnum):
    employment = "employment"  # Art. 37, 41
    training = "training"  # Art. 37, 41
    schooling = "schooling"  # Art. 37
    psychological = "psychological"  # Art. 40
    social_assistance = "social_assistance"  # Art. 43
    legal_aid = "legal_aid"  # Art. 43


class CorrectionAssistanceBody(_Body):
    """Help given (社区矫正法 Art. 35-43)."""

    measure: CorrectionMeasure
    note: Note | None = None


class ResettlementMeasure(StrEnum):
    employment = "employment"  # 安置帮教 Art. 11
    training = "training"  # Art. 11
    schooling = "schooling"  # Art. 10
    housing = "housing"  # Art. 13
    social_assistance = "social_assistance"  # Art. 12


class ResettlementAssistanceBody(_Body):
    """An assistance measure (上海市安置帮教工作规定 Art. 10-13; DOMAIN.md)."""

    measure: ResettlementMeasure
    note: Note | None = None


class DrugMeasure(StrEnum):
    training = "training"  # 戒毒条例 Art. 18(3) 职业技能培训
    employment = "employment"  # Art. 18(3) 职业指导, 就业援助
    schooling = "schooling"  # Art. 18(3) 就学援助
    medical = "medical"  # Art. 18(3) 就医援助


class DrugAssistanceBody(_Body):
    measure: DrugMeasure
    note: Note | None = None


class PlanBody(_Body):
    """A new version of the correction plan (社区矫正法 Art. 24: adjusted as the subject does)."""

    plan: LongText


class ContactLostBody(_Body):
    """The subject cannot be reached: the office searches (社区矫正法 Art. 30)."""

    note: Note | None = None


class DecisionBody(_Body):
    """A reward or sanction decided by the correction agency (社区矫正法 Art. 28), or a
    proposal it sends on (Art. 28, 46, 49): the decision's reason and document number."""

    reason: Reason | None = None
    document_no: DocumentNo | None = None


class PeriodBody(_Body):
    """An absence: both days counted (`inclusive_days`); `occurred_on` is its first day."""

    starts_on: date
    ends_on: date
    note: Note | None = None

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on: before starts_on")
        return self


class TestMethod(StrEnum):
    __test__ = False  # not a pytest class

    urine = "urine"
    hair = "hair"
    blood = "blood"
    saliva = "saliva"


class DrugTestBody(_Body):
    """A test the police require (戒毒条例 Art. 19(2)); the result is the event's type."""

    method: TestMethod | None = None
    note: Note | None = None


class RelapseBasis(StrEnum):
    test = "test"  # a positive test
    police_finding = "police_finding"  # found using by the police


class RelapseBody(_Body):
    """复吸: drug use again (戒毒条例 Art. 7, 21). Restarts the 3 years of Art. 7."""

    basis: RelapseBasis
    document_no: DocumentNo | None = None
    note: Note | None = None


class PoliceReportBody(_Body):
    """The office's report to the police (戒毒条例 Art. 21): refusal, relapse, serious violation."""

    document_no: DocumentNo | None = None
    note: Note | None = None


class StreetNotifiedBody(_Body):
    """The police told the street/town of a discharge (戒毒条例 Art. 23, 40: within 7 days)."""

    document_no: DocumentNo
    note: Note | None = None


class NewOffenceBody(_Body):
    """A new offence of the subject, established by a court or the police (社区矫正法 Art. 45,
    46: 犯新罪; 安置帮教: 重新犯罪). Counted per unit for the re-offence KPI, never per person."""

    document_no: DocumentNo
    note: Note | None = None


class PlacementBody(_Body):
    """The subject was placed in work (安置就业; 上海市安置帮教工作规定 Art. 11)."""

    note: Note | None = None


# -- bodies the service writes ---------------------------------------------------------


class TransitionBody(_Body):
    """A state change: `POST …/transitions`, or a closure approved by the supervising level;
    `term_ends_on` when the move sets a drug file's term (戒毒条例 Art. 14, 24)."""

    from_: State = Field(alias="from")
    to: State
    term_ends_on: date | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    certificate_no: Annotated[str, StringConstraints(max_length=64)] | None = None
    closure_id: uuid.UUID | None = None
    declared_on: date | None = None
    note: Reason | None = None


class TermChangedBody(_Body):
    """A court's ruling that changed the term (社区矫正法 Art. 33; `registry.casefiles.terms`)."""

    previous_term_ends_on: date
    term_ends_on: date
    document_no: DocumentNo
    ruling: Literal["reduction"]


class ClosureRequestedBody(_Body):
    closure_id: uuid.UUID
    from_: State = Field(alias="from")
    to: State
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    certificate_no: Annotated[str, StringConstraints(max_length=64)] | None = None


class ClosureRefusedBody(_Body):
    closure_id: uuid.UUID
    declared_on: date
    note: Reason | None = None


class LeaveOverdueBody(_Body):
    """A late return from approved leave (社区矫正法 Art. 27; `registry.casefiles.leaves`)."""

    leave_request_id: uuid.UUID
    ends_on: date
    returned_on: date
    days_late: int = Field(ge=1, le=100_000)


class TransferBody(_Body):
    """A change of execution place (社区矫正法 Art. 27 para. 2; `registry.casefiles.transfers`)."""

    transfer_id: uuid.UUID
    from_org_unit: OrgUnitCode
    to_org_unit: OrgUnitCode
    report_due_on: date | None = None


# -- the catalogue ----------------------------------------------------------------------


@dataclass(frozen=True)
class EventType:
    name: str
    body: type[_Body]
    # Roles that may record it through the API; empty: the service records it itself.
    recorders: frozenset[Role]
    article: str
    # The lowest level of the recorder's own org unit (`leaves.approver_level`), where the
    # law names the deciding body.
    min_level: ApprovalLevel | None = None
    # The hint this type counts toward (`registry.casefiles.event_counts`).
    counts_toward: str | None = None
    # Bodies with `starts_on`/`ends_on`: the period is kept plain for counting in days.
    period: bool = False

    @property
    def system(self) -> bool:
        return not self.recorders


CORRECTIONS = frozenset({Role.CORRECTIONS})
CORRECTIONS_AND_SOCIAL = frozenset({Role.CORRECTIONS, Role.SOCIAL_WORKER})
RESETTLEMENT = frozenset({Role.CIVIL_AFFAIRS, Role.CORRECTIONS, Role.SOCIAL_WORKER})
DRUG = frozenset({Role.POLICE})
DRUG_AND_SOCIAL = frozenset({Role.POLICE, Role.SOCIAL_WORKER})
SYSTEM: frozenset[Role] = frozenset()
SERIOUS_VIOLATION = "serious_violation_to_report"

# 社区矫正法 Art. 9, 28: rewards and sanctions are decisions of the community correction
# agency, which county-level governments set up; a 司法所 (street level) works only on the
# agency's entrustment and a social worker only assists (Art. 11), so neither decides them.
AGENCY_LEVEL = ApprovalLevel.county


def _system_types(*, correction: bool) -> dict[str, EventType]:
    types = [
        EventType("transition", TransitionBody, SYSTEM, "DOMAIN.md states"),
        EventType("closure_requested", ClosureRequestedBody, SYSTEM, "DOMAIN.md closure approval"),
        EventType("closure_refused", ClosureRefusedBody, SYSTEM, "DOMAIN.md closure approval"),
    ]
    if correction:  # terms, leave and transfers are of community correction only
        types += [
            EventType("term_changed", TermChangedBody, SYSTEM, "社区矫正法 Art. 33"),
            EventType("leave_overdue", LeaveOverdueBody, SYSTEM, "社区矫正法 Art. 27"),
            EventType("transfer_proposed", TransferBody, SYSTEM, "社区矫正法 Art. 27"),
            EventType("transfer_accepted", TransferBody, SYSTEM, "社区矫正法 Art. 27"),
            EventType("transfer_cancelled", TransferBody, SYSTEM, "社区矫正法 Art. 27"),
        ]
    return {t.name: t for t in types}


def _agency_decision(name: str, article: str, counts_toward: str | None = None) -> EventType:
    return EventType(name, DecisionBody, CORRECTIONS, article, AGENCY_LEVEL, counts_toward)


_CORRECTION = [
    EventType("visit", VisitBody, CORRECTIONS_AND_SOCIAL, "社区矫正法 Art. 26"),
    EventType("report", ReportBody, CORRECTIONS_AND_SOCIAL, "社区矫正法 Art. 23"),
    EventType("education", EducationBody, CORRECTIONS_AND_SOCIAL, "社区矫正法 Art. 36"),
    EventType("assistance", CorrectionAssistanceBody, CORRECTIONS_AND_SOCIAL, "社区矫正法 Art. 35-43"),
    EventType("plan_revised", PlanBody, CORRECTIONS, "社区矫正法 Art. 24"),
    EventType("contact_lost", ContactLostBody, CORRECTIONS, "社区矫正法 Art. 30"),
    EventType("absence_unauthorised", PeriodBody, CORRECTIONS, "社区矫正法 Art. 27", period=True),
    _agency_decision(Sanction.praise, "社区矫正法 Art. 28"),
    _agency_decision(Sanction.reprimand, "社区矫正法 Art. 28"),
    _agency_decision(Sanction.warning, "社区矫正法 Art. 28", counts_toward="revocation_may_be_proposed"),
    _agency_decision(Sanction.police_penalty_proposal, "社区矫正法 Art. 28"),
    # Refused for 管制 (control), which has no revocation (Art. 28, 46, 49).
    _agency_decision(Sanction.revocation_proposal, "社区矫正法 Art. 28, 46, 49"),
    EventType("new_offence", NewOffenceBody, CORRECTIONS, "社区矫正法 Art. 45, 46"),
]

_RESETTLEMENT = [
    EventType("visit", VisitBody, RESETTLEMENT, "上海市安置帮教工作规定 Art. 8"),
    EventType("assistance", ResettlementAssistanceBody, RESETTLEMENT, "上海市安置帮教工作规定 Art. 10-13"),
    EventType("placement", PlacementBody, RESETTLEMENT, "上海市安置帮教工作规定 Art. 11"),
    EventType("new_offence", NewOffenceBody, RESETTLEMENT, "上海市安置帮教工作规定; 刑法 Art. 65"),
]

_DRUG = [
    EventType("visit", VisitBody, DRUG_AND_SOCIAL, "戒毒条例 Art. 18"),
    EventType("education", EducationBody, DRUG_AND_SOCIAL, "戒毒条例 Art. 18(1)-(2)"),
    EventType("assistance", DrugAssistanceBody, DRUG_AND_SOCIAL, "戒毒条例 Art. 18(3)"),
    EventType("test_negative", DrugTestBody, DRUG, "戒毒条例 Art. 19(2)"),
    # Art. 20: evading or refusing tests 3 times is a serious violation of the agreement.
    EventType("test_missed", DrugTestBody, DRUG, "戒毒条例 Art. 19(2), 20", counts_toward=SERIOUS_VIOLATION),
    # Art. 21: using again is reported to the police; Art. 7: it restarts the 3 years.
    EventType("test_positive", DrugTestBody, DRUG, "戒毒条例 Art. 7, 21", counts_toward="relapse_to_report"),
    EventType("relapse", RelapseBody, DRUG, "戒毒条例 Art. 7, 21", counts_toward="relapse_to_report"),
    # Art. 19(3): leaving the county for 3 days or more needs a written report; reported, it counts for nothing.
    EventType("absence_reported", PeriodBody, DRUG_AND_SOCIAL, "戒毒条例 Art. 19(3)", period=True),
    # Art. 20: unauthorised absences 3 times, or more than 30 days in total, are a serious violation.
    EventType(
        "absence_unauthorised",
        PeriodBody,
        DRUG,
        "戒毒条例 Art. 19(3), 20",
        counts_toward=SERIOUS_VIOLATION,
        period=True,
    ),
    EventType("police_report", PoliceReportBody, DRUG, "戒毒条例 Art. 21"),
    EventType("street_notified", StreetNotifiedBody, DRUG, "戒毒条例 Art. 23, 40"),
]

CATALOGUE: dict[Kind, dict[str, EventType]] = {
    Kind.community_correction: {**_system_types(correction=True), **{t.name: t for t in _CORRECTION}},
    Kind.resettlement: {**_system_types(correction=False), **{t.name: t for t in _RESETTLEMENT}},
    Kind.drug_rehabilitation: {**_system_types(correction=False), **{t.name: t for t in _DRUG}},
}

# Relapses for 戒毒条例 Art. 7: a recorded relapse, or a positive test.
RELAPSE_TYPES = frozenset({"relapse", "test_positive"})


def entry(kind: Kind | str, type_: str) -> EventType:
    """The catalogue entry; `RuleViolation` for a type the kind does not have."""
    found = CATALOGUE[Kind(kind)].get(type_)
    if found is None:
        raise RuleViolation(f"event.type: {type_} is not an event type of {Kind(kind)} (see schemas/)")
    return found


def validated_body(event_type: EventType, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body checked against its model, as JSON-ready values (aliases kept: `from`).
    Messages name the known fields at fault; an unknown key is counted, never echoed (its
    name is the caller's text and may carry a personal value)."""
    try:
        parsed = event_type.body.model_validate(body)
    except ValidationError as exc:
        unknown = sum(1 for e in exc.errors() if e["type"] == "extra_forbidden")
        known = [".".join(str(p) for p in e["loc"]) or "period" for e in exc.errors() if e["type"] != "extra_forbidden"]
        parts = [f"invalid field(s) {', '.join(dict.fromkeys(known[:5]))}"] if known else []
        if unknown:
            parts.append(f"{unknown} key(s) not in the schema")
        raise RuleViolation(f"event.body: {'; '.join(parts)} for {event_type.name}") from None
    return parsed.model_dump(mode="json", by_alias=True, exclude_none=True)


def period_of(event_type: EventType, body: Mapping[str, Any]) -> tuple[date, date] | None:
    """`(starts_on, ends_on)` of a period type's validated body, else None."""
    if not event_type.period:
        return None
    return date.fromisoformat(body["starts_on"]), date.fromisoformat(body["ends_on"])


def check_period(kind: Kind | str, event_type: EventType, *, occurred_on: date, period: tuple[date, date]) -> None:
    """An absence is recorded on its first day, once over (its days are then known); a
    drug file's unauthorised absence is one of 3 days or more (戒毒条例 Art. 19(3): a
    shorter one needs no report, so it cannot be unauthorised)."""
    starts_on, ends_on = period
    if occurred_on != starts_on:
        raise RuleViolation("event.period: occurred_on is the absence's first day (starts_on)")
    if Kind(kind) is Kind.drug_rehabilitation and event_type.name == "absence_unauthorised":
        if inclusive_days(starts_on, ends_on) < ABSENCE_REPORT_DAYS:
            raise RuleViolation("absence.days: an absence of less than 3 days needs no report (戒毒条例 Art. 19(3))")


def json_schemas() -> dict[str, dict[str, Any]]:
    """`casefile.<kind>.event.<type>` → the body's JSON Schema (for `registry.api.jsonschemas`)."""
    return {
        f"casefile.{kind}.event.{name}": event_type.body.model_json_schema(mode="validation", by_alias=True)
        for kind, types in CATALOGUE.items()
        for name, event_type in types.items()
    }
