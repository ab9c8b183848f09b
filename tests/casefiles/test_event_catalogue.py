"""The casefile event catalogue (issue 14, Deliver 4) and the event rules of Deliver 3, as
pure functions: each type has its schema file, its recorders and level, its hint; scope
limits; 管制 has no revocation; relapse restarts the 3 years; absences count in days.
Each test names the article it checks."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from pydantic import BaseModel

from registry.access.policy import Role, permissions_of
from registry.api.jsonschemas import SCHEMAS_DIR
from registry.casefiles import events_catalogue as catalogue
from registry.casefiles.access import KIND_PERMISSION
from registry.casefiles.event_counts import drug_hints
from registry.casefiles.leave import ApprovalLevel
from registry.casefiles.workflows import correction, drug
from registry.casefiles.workflows.common import Kind
from registry.errors import RuleViolation

D = date.fromisoformat
ENTRIES = sorted(
    ((kind, name, entry) for kind, types in catalogue.CATALOGUE.items() for name, entry in types.items()),
    key=lambda t: (t[0], t[1]),
)
IDS = [f"{kind}.{name}" for kind, name, _ in ENTRIES]
SANCTIONS = ("praise", "reprimand", "warning", "police_penalty_proposal", "revocation_proposal")
SYSTEM = {"transition", "closure_requested", "closure_refused"}
CORRECTION_SYSTEM = SYSTEM | {
    "term_changed",
    "leave_overdue",
    "transfer_proposed",
    "transfer_accepted",
    "transfer_cancelled",
}


def _walk(schema: object):  # type: ignore[no-untyped-def]
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _walk(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _walk(value)


@pytest.mark.parametrize(("kind", "name", "entry"), ENTRIES, ids=IDS)
def test_every_type_has_a_closed_schema_file_with_types_formats_and_lengths(kind, name, entry) -> None:
    """Issue 14 Deliver 4: schemas/casefile.<kind>.event.<type>.json, additionalProperties
    false, strings bounded, dates with their format."""
    path = SCHEMAS_DIR / f"casefile.{kind}.event.{name}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False and schema["type"] == "object"
    for node in _walk(schema):
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False
        if node.get("type") == "string" and not {"enum", "const", "pattern"} & node.keys():
            assert "maxLength" in node or node.get("format") in ("date", "uuid"), (name, node)


@pytest.mark.parametrize(("kind", "name", "entry"), ENTRIES, ids=IDS)
def test_no_type_or_key_names_an_out_of_scope_datum(kind, name, entry) -> None:
    """DOMAIN.md Person (never stored) and 社区矫正法 Art. 29 (monitoring out of scope): no
    ethnicity, religion, belief, politics, petition, location or risk field or type."""
    keys = set(entry.body.model_json_schema(by_alias=True)["properties"])
    for word in catalogue.FORBIDDEN_WORDS:
        assert word not in name and not any(word in key for key in keys), (name, word)


@pytest.mark.parametrize("kind", list(Kind))
def test_gps_check_is_not_a_type_and_a_religion_key_is_refused(kind) -> None:
    """DOMAIN.md scope limits: the `gps_check` type and a `religion` key of issue 14 are refused."""
    with pytest.raises(RuleViolation, match=r"^event.type: gps_check is not an event type"):
        catalogue.entry(kind, "gps_check")
    visit = catalogue.entry(kind, "visit")
    with pytest.raises(RuleViolation) as refused:
        catalogue.validated_body(visit, {"note": "ok", "religion": "x"})
    # The unknown key's name is the caller's text: counted, never echoed.
    assert refused.value.detail == "event.body: 1 key(s) not in the schema for visit"


def test_bodies_are_checked_by_type_format_and_length() -> None:
    warning = catalogue.entry(Kind.community_correction, "warning")
    assert catalogue.validated_body(warning, {}) == {}
    assert catalogue.validated_body(warning, {"reason": " 未按时报告 ", "document_no": "警1号"}) == {
        "reason": "未按时报告",
        "document_no": "警1号",
    }
    for bad in ({"reason": "x" * 501}, {"reason": 3}, {"document_no": ""}):
        with pytest.raises(RuleViolation, match="invalid field"):
            catalogue.validated_body(warning, bad)
    absence = catalogue.entry(Kind.drug_rehabilitation, "absence_unauthorised")
    with pytest.raises(RuleViolation, match="invalid field"):
        catalogue.validated_body(absence, {"starts_on": "2026-01-05", "ends_on": "2026-01-01"})
    with pytest.raises(RuleViolation, match="invalid field"):
        catalogue.validated_body(absence, {"starts_on": "2026-13-01", "ends_on": "2026-01-01"})


def test_sanctions_are_decided_by_the_correction_agency_at_county_level() -> None:
    """社区矫正法 Art. 9, 28: rewards and sanctions are the county-level correction agency's
    decisions; neither a social worker (Art. 11) nor another role records them."""
    types = catalogue.CATALOGUE[Kind.community_correction]
    for name in SANCTIONS:
        assert types[name].recorders == {Role.CORRECTIONS}, name
        assert types[name].min_level is ApprovalLevel.county, name
    assert types["warning"].counts_toward == "revocation_may_be_proposed"
    assert Role.SOCIAL_WORKER in types["visit"].recorders and types["visit"].min_level is None


def test_system_types_are_in_the_catalogue_and_cannot_be_posted() -> None:
    """Types the service writes itself (transitions, closures, terms 社区矫正法 Art. 33, leave
    and transfers Art. 27) are described too, with no API recorder."""
    for kind, types in catalogue.CATALOGUE.items():
        system = {name for name, entry in types.items() if entry.system}
        assert system == (CORRECTION_SYSTEM if kind is Kind.community_correction else SYSTEM)


def test_the_catalogue_narrows_the_policy_table_never_widens_it() -> None:
    """Every recorder other than the assigned social worker holds the kind's permission."""
    for kind, types in catalogue.CATALOGUE.items():
        for entry in types.values():
            for role in entry.recorders - {Role.SOCIAL_WORKER}:
                assert KIND_PERMISSION[kind] in permissions_of(frozenset({role})), (kind, entry.name, role)


def test_system_bodies_match_what_the_service_writes() -> None:
    """The bodies `service.transition`, `closures`, `terms`, `leaves` and `transfers` write."""
    samples: dict[str, dict[str, object]] = {
        "transition": {"from": "received", "to": "supervised", "reason": None, "certificate_no": None},
        "closure_requested": {
            "closure_id": "6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11",
            "from": "supervised",
            "to": "discharged",
            "reason": None,
            "certificate_no": "解矫1号",
        },
        "closure_refused": {"closure_id": "6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11", "declared_on": "2026-01-02"},
        "term_changed": {
            "previous_term_ends_on": "2026-12-19",
            "term_ends_on": "2026-10-19",
            "document_no": "(2026)减1号",
            "ruling": "reduction",
        },
        "leave_overdue": {
            "leave_request_id": "6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11",
            "ends_on": "2026-01-02",
            "returned_on": "2026-01-04",
            "days_late": 2,
        },
        "transfer_proposed": {
            "transfer_id": "6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11",
            "from_org_unit": "320571",
            "to_org_unit": "320505",
            "report_due_on": "2026-01-12",
        },
    }
    types = catalogue.CATALOGUE[Kind.community_correction]
    for name, body in samples.items():
        catalogue.validated_body(types[name], body)  # raises if the schema drifted from the writer


def test_revocation_of_control_is_refused_art_28() -> None:
    """社区矫正法 Art. 28, 46, 49: revocation exists for 缓刑, 假释 and 暂予监外执行 only; 管制
    (control) is never revoked, neither by transition nor by proposal."""
    with pytest.raises(RuleViolation, match=r"^revocation.category: 管制"):
        correction.check_revocable("control")
    for category in ("probation", "parole", "temporary_out_of_prison"):
        correction.check_revocable(category)
    facts = {"reason": "ruling", "category": correction.Category.control}
    for frm in ("supervised", "detained", "missing"):
        with pytest.raises(RuleViolation, match=r"^revocation.category"):
            correction.check_transition(frm, "revoked", on=D("2026-01-05"), facts=facts)
        correction.check_transition(frm, "revoked", on=D("2026-01-05"), facts={**facts, "category": "parole"})


def test_relapse_restarts_the_three_years_art_7() -> None:
    """戒毒条例 Art. 7: 戒断3年未复吸 — the 3 years count from the day after the latest relapse,
    or from the discharge when no relapse is later."""
    discharged = D("2026-03-01")
    assert drug.relapse_free_since([], since=discharged) == discharged
    assert drug.relapse_free_since([D("2026-01-01")], since=discharged) == discharged
    since = drug.relapse_free_since([D("2027-05-01"), D("2026-09-30")], since=discharged)
    assert since == D("2027-05-02")
    assert drug.is_under_dynamic_control(since, D("2030-05-01"))
    assert not drug.is_under_dynamic_control(since, D("2030-05-02"))
    assert drug.relapse_free_since([]) is None


def _absence(starts: str, days: int) -> tuple[str, date, date]:
    return ("absence_unauthorised", D(starts), D(starts) + timedelta(days=days - 1))


def test_absences_count_in_days_and_fire_above_thirty_art_20() -> None:
    """戒毒条例 Art. 20: unauthorised absences 3 times or above 30 days in total (累计超过30日)
    are a serious violation; the days are the recorded periods', not 3 per absence."""
    assert drug_hints([_absence("2026-01-01", 30)]) == []
    assert drug_hints([_absence("2026-01-01", 31)]) == ["serious_violation_to_report"]
    assert drug_hints([_absence("2026-01-01", 15), _absence("2026-03-01", 15)]) == []
    assert drug_hints([_absence("2026-01-01", 15), _absence("2026-03-01", 16)]) == ["serious_violation_to_report"]
    three = [_absence("2026-01-01", 3), _absence("2026-02-01", 3), _absence("2026-03-01", 3)]
    assert drug_hints(three) == ["serious_violation_to_report"]
    # Reported absences (Art. 19(3)) count for nothing.
    reported = [("absence_reported", D("2026-01-01"), D("2026-03-01"))] * 3
    assert drug_hints(reported) == []


def test_relapse_is_reported_and_a_police_report_answers_it_art_21() -> None:
    """戒毒条例 Art. 21: relapse and serious violations are reported to the police; a report
    recorded on or after the latest such event answers the hint."""
    relapse = ("relapse", D("2026-01-02"), None)
    assert drug_hints([relapse]) == ["relapse_to_report"]
    assert drug_hints([relapse, ("police_report", D("2026-01-03"), None)]) == []
    assert drug_hints([relapse, ("police_report", D("2026-01-01"), None)]) == ["relapse_to_report"]
    missed = [("test_missed", D(f"2026-01-0{d}"), None) for d in (1, 2, 3)]
    assert drug_hints(missed) == ["serious_violation_to_report"]
    assert drug_hints([*missed, ("police_report", D("2026-01-03"), None)]) == []


def test_an_absence_is_recorded_on_its_first_day_and_a_short_one_is_not_unauthorised_art_19() -> None:
    """戒毒条例 Art. 19(3): only leaving for 3 days or more needs a written report, so a
    shorter absence cannot be an unauthorised one."""
    kind = Kind.drug_rehabilitation
    entry = catalogue.entry(kind, "absence_unauthorised")
    catalogue.check_period(kind, entry, occurred_on=D("2026-01-01"), period=(D("2026-01-01"), D("2026-01-03")))
    with pytest.raises(RuleViolation, match=r"^absence.days"):
        catalogue.check_period(kind, entry, occurred_on=D("2026-01-01"), period=(D("2026-01-01"), D("2026-01-02")))
    with pytest.raises(RuleViolation, match=r"^event.period"):
        catalogue.check_period(kind, entry, occurred_on=D("2026-01-02"), period=(D("2026-01-01"), D("2026-01-05")))
    reported = catalogue.entry(kind, "absence_reported")
    catalogue.check_period(kind, reported, occurred_on=D("2026-01-01"), period=(D("2026-01-01"), D("2026-01-01")))


def test_body_models_are_closed() -> None:
    for _, _, entry in ENTRIES:
        assert issubclass(entry.body, BaseModel) and entry.body.model_config.get("extra") == "forbid"
