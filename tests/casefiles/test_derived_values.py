"""Derived values come from recorded facts, never from a request (issue 14).

The service composes what a workflow rule reads in one place (`checklists.facts_for_rule`):
the request's checklist for that move, then the file's record and what the service derives
from it, which wins. The property tests below throw arbitrary request bodies at it (any
`facts` dict, any extra `details` key) and check that no derived value changes and no move
passes that the record forbids. Articles are named on each rule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from registry.casefiles import derived, terms
from registry.casefiles.checklists import CHECKLISTS, checklist_model, facts_for_rule, validated_checklist
from registry.casefiles.details import Opening, details_model, error_summary
from registry.casefiles.schemas import TermChange
from registry.casefiles.terms import Ruling
from registry.casefiles.workflows import WORKFLOWS, Kind
from registry.casefiles.workflows.common import add_years
from registry.errors import Conflict, RuleViolation

D = date.fromisoformat
TODAY = D("2026-01-05")
CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初1号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-06-19",
}
RESETTLEMENT = {"source": "prison", "releasing_institution": "测试监狱", "release_on": "2025-12-01", "key_person": True}
DRUG = {
    "measure": "community_detox",
    "deciding_authority": "测试区公安分局",
    "order_no": "测公禁1号",
    "executing_org_unit": "320571001",
    "order_served_on": "2025-12-01",
}
DETAILS = {Kind.community_correction: CORRECTION, Kind.resettlement: RESETTLEMENT, Kind.drug_rehabilitation: DRUG}
# Names a request might use to smuggle a derived or recorded value in.
DERIVED_NAMES = [
    "term_ends_on",
    "report_due_on",
    "handover_due_on",
    "minor",
    "key_person",
    "assistance_years",
    "release_on",
    "judgment_effective_on",
    "term_starts_on",
    "term_months",
    "order_served_on",
    "source",
    "category",
]
CHECKLIST_NAMES = sorted({name for model in CHECKLISTS.values() for name in model.model_fields})
values = st.one_of(
    st.booleans(),
    st.integers(-5, 100),
    st.none(),
    st.text(max_size=12),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)).map(date.isoformat),
)
keys = st.one_of(st.sampled_from(DERIVED_NAMES + CHECKLIST_NAMES), st.text(min_size=1, max_size=12))
request_facts = st.dictionaries(keys, values, max_size=6)
MOVES = [(kind, frm, to) for kind, wf in WORKFLOWS.items() for (frm, to) in wf.transitions]


def _typed(kind: Kind, details: dict[str, Any] | None = None) -> Any:
    return details_model(kind).model_validate(details or DETAILS[kind])


def _recorded(kind: Kind, details: dict[str, Any] | None = None, term_ends_on: date | None = None) -> dict[str, Any]:
    typed = _typed(kind, details)
    term = term_ends_on if term_ends_on is not None else derived.at_opening(typed).term_ends_on
    return derived.recorded_facts(kind, typed.model_dump(), term)


def _verdict(kind: Kind, frm: str, to: str, on: date, facts: dict[str, Any]) -> str:
    try:
        WORKFLOWS[kind].check_transition(frm, to, on=on, facts=facts)
    except RuleViolation as refused:
        return refused.detail
    return "allowed"


# -- the derived values themselves ------------------------------------------------------


def test_correction_report_due_and_term_come_from_the_judgment():
    """社区矫正法 Art. 21: report within 10 days of the judgment taking effect."""
    dates = derived.at_opening(_typed(Kind.community_correction))
    assert dates == derived.Deadlines(report_due_on=D("2025-12-30"), term_ends_on=D("2026-06-19"))


def test_resettlement_handover_for_key_persons_and_five_years_of_assistance():
    """必接必送 for key persons on release day; assistance 5 years from release (DOMAIN.md setting)."""
    key = derived.at_opening(_typed(Kind.resettlement))
    assert key.handover_due_on == D("2025-12-01") and key.term_ends_on == D("2030-11-30")
    plain = derived.at_opening(_typed(Kind.resettlement, RESETTLEMENT | {"key_person": False}))
    assert plain.handover_due_on is None and plain.term_ends_on == D("2030-11-30")


def test_drug_term_runs_from_the_report_and_a_suspension_does_not_count():
    """戒毒条例 Art. 14 (3 years from the report, 禁毒法 Art. 33), Art. 37 (rehab as ordered),
    Art. 24 (a detention suspends: the days do not count)."""
    assert derived.at_opening(_typed(Kind.drug_rehabilitation)).report_due_on == D("2025-12-16")  # Art. 14: 15 days
    assert derived.drug_term_ends_on(_typed(Kind.drug_rehabilitation), D("2025-03-10")) == D("2028-03-09")
    rehab = _typed(Kind.drug_rehabilitation, DRUG | {"measure": "community_rehab", "term_months": 18})
    assert derived.drug_term_ends_on(rehab, D("2025-03-10")) == D("2026-09-09")
    assert derived.after_suspension(D("2028-03-09"), D("2026-01-01"), D("2026-01-11")) == D("2028-03-19")


@given(
    birth=st.dates(min_value=date(1960, 1, 1), max_value=date(2012, 12, 31)),
    offence_age_days=st.integers(0, 40 * 366),
    opened_after=st.integers(0, 20 * 366),
)
def test_minor_is_the_age_at_the_offence_when_recorded_else_at_opening(birth, offence_age_days, opened_after):
    """刑事诉讼法 Art. 286: under 18 at the time of the offence; DOMAIN.md: else at opening."""
    offence = birth + timedelta(days=offence_age_days)
    opened = offence + timedelta(days=opened_after)
    with_offence = _typed(
        Kind.community_correction,
        CORRECTION
        | {"offence_date": offence.isoformat(), "judgment_effective_on": offence.isoformat()}
        | {"term_starts_on": offence.isoformat(), "term_ends_on": (offence + timedelta(days=1)).isoformat()},
    )
    assert derived.is_minor(birth, with_offence, opened) is (offence < add_years(birth, 18))
    assert derived.is_minor(birth, _typed(Kind.community_correction), opened) is (opened < add_years(birth, 18))


def test_offence_date_is_checked_against_the_record():
    with pytest.raises(ValidationError):
        _typed(Kind.community_correction, CORRECTION | {"offence_date": "2025-12-21"})  # after the judgment
    with pytest.raises(ValidationError):
        _typed(Kind.resettlement, RESETTLEMENT | {"offence_date": "2025-12-02"})  # after the release


# -- the request's checklist ------------------------------------------------------------


def test_each_transition_takes_only_its_own_checklist():
    """社区矫正法 Art. 22 (intake) and 戒毒条例 Art. 16, 38 (agreement) have checklists; every
    other move takes none. Unknown keys and non-booleans are 422; the detail names the
    allowed items, never what was sent."""
    assert validated_checklist("community_correction", "intake", {"rules_read": True}) == {
        "documents_checked": False,
        "identity_verified": False,
        "rules_read": True,
    }
    assert validated_checklist("drug_rehabilitation", "agreement", {}) == {"agreement_signed": False}
    assert validated_checklist("resettlement", "close", {}) == {}
    assert checklist_model("community_correction", None) is checklist_model("resettlement", "close")
    for kind, rule, facts in [
        ("resettlement", "direct_assistance", {"key_person": False}),
        ("resettlement", "close", {"assistance_years": 1}),
        ("drug_rehabilitation", "discharge", {"term_ends_on": "2026-01-01"}),
        ("community_correction", "intake", {"rules_read": "true"}),
        ("community_correction", "intake", {"rules_read": 1}),
        ("community_correction", "intake", {"张三": True}),
    ]:
        with pytest.raises(RuleViolation) as refused:
            validated_checklist(kind, rule, facts)
        assert refused.value.detail.startswith("facts: only the checklist of")
        assert "张三" not in refused.value.detail and "assistance_years" not in refused.value.detail


# -- properties: no request body changes a derived value --------------------------------


@settings(max_examples=300)
@given(move=st.sampled_from(MOVES), sent=request_facts, on=st.dates(date(2020, 1, 1), date(2040, 12, 31)))
def test_no_facts_dict_overrides_the_record_or_passes_a_forbidden_move(move, sent, on):
    """Any `facts` is either refused, or leaves every recorded fact as recorded, and the
    rule's verdict is the one it gives on the checklist items alone."""
    kind, frm, to = move
    rule = WORKFLOWS[kind].rule_for(frm, to)
    recorded = _recorded(kind, term_ends_on=D("2026-06-19"))
    try:
        facts = facts_for_rule(kind, rule, sent, recorded, reason=None, certificate_no=None)
    except RuleViolation as refused:
        assert refused.detail.startswith("facts:")
        return
    assert {k: facts[k] for k in recorded} == recorded
    items = set(checklist_model(kind, rule).model_fields)
    assert set(sent) <= items
    only_items = facts_for_rule(
        kind, rule, {k: sent[k] for k in items & set(sent)}, recorded, reason=None, certificate_no=None
    )
    assert _verdict(kind, frm, to, on, facts) == _verdict(kind, frm, to, on, only_items)


FORBIDDEN = [
    # (kind, from, to, details, term end, on, rule): what the record forbids, with the article
    (Kind.resettlement, "released", "assisting", RESETTLEMENT, None, TODAY, "direct_assistance.key_person"),  # 必接必送
    (Kind.resettlement, "assisting", "closed", RESETTLEMENT, None, TODAY, "close.period_ended"),  # 5 years
    (Kind.community_correction, "supervised", "discharged", CORRECTION, None, TODAY, "discharge.term_ended"),  # Art. 44
    (Kind.community_correction, "awaiting_report", "missing", CORRECTION, None, D("2025-12-30"), "report_overdue"),
    (Kind.drug_rehabilitation, "active", "discharged", DRUG, D("2028-12-02"), TODAY, "discharge.term_ended"),  # Art. 23
]


@settings(max_examples=60)
@given(case=st.sampled_from(FORBIDDEN), sent=request_facts)
def test_a_move_the_record_forbids_stays_forbidden_whatever_the_request(case, sent):
    kind, frm, to, details, term, on, rule_name = case
    recorded = _recorded(kind, details, term_ends_on=term)
    try:
        facts = facts_for_rule(
            kind, WORKFLOWS[kind].rule_for(frm, to), sent, recorded, reason=None, certificate_no="C-1"
        )
    except RuleViolation as refused:
        assert refused.detail.startswith("facts:")
        return
    assert _verdict(kind, frm, to, on, facts).startswith(rule_name)


@settings(max_examples=200)
@given(
    kind=st.sampled_from(list(Kind)),
    extra=st.dictionaries(st.sampled_from(DERIVED_NAMES + ["minor"]), values, min_size=1),
)
def test_no_details_key_sets_a_derived_value(kind, extra):
    """Details that name a derived value are refused; a recorded one (e.g. the judgment's
    term) that parses is the record itself, and the derived dates follow from it alone."""
    sent = DETAILS[kind] | extra
    try:
        typed = details_model(kind).model_validate(sent)
    except ValidationError:
        return
    model_fields = set(details_model(kind).model_fields)
    assert set(extra) <= model_fields  # only the kind's own recorded fields ever parse
    dates = derived.at_opening(typed)
    if kind is Kind.drug_rehabilitation:
        assert dates.term_ends_on is None  # never before the report
    assert not {"minor", "report_due_on", "handover_due_on", "assistance_years"} & model_fields


def test_an_undefined_move_is_a_conflict_before_any_fact_is_read():
    with pytest.raises(Conflict):
        WORKFLOWS[Kind.community_correction].rule_for("awaiting_report", "discharged")


# -- plausible dates at opening (issue 14 review, findings 4-6) ----------------------------

BIRTH = D("1990-05-05")
AT = Opening(today=TODAY, opened_on=TODAY, birth=BIRTH)
C, R, G = Kind.community_correction, Kind.resettlement, Kind.drug_rehabilitation
WINDOWS = [
    # (kind, change to the details, opening, the rule of the refusal)
    (
        C,
        {"judgment_effective_on": "0001-01-01", "term_starts_on": "0001-01-01"},
        AT,
        "before the subject's date of birth",
    ),
    (C, {"term_ends_on": "9999-12-31"}, AT, "term_ends_on: a term of more than 25 years (刑法 Art. 69)"),
    (C, {"term_starts_on": "9999-01-01", "term_ends_on": "9999-12-31"}, AT, "term_starts_on: more than 366 days"),
    (C, {"term_ends_on": "2026-01-04"}, AT, "term_ends_on: the term ended before the file opens"),
    (C, {"offence_date": "1995-01-01"}, AT, "offence_date: before the subject was 12 (刑法 Art. 17)"),
    (C, {}, replace(AT, opened_on=D("2025-12-19")), "opened_on: before judgment_effective_on (社区矫正法 Art. 21)"),
    (R, {"release_on": "9999-12-31"}, AT, "release_on: more than 366 days after opening"),
    (R, {"release_on": "0001-01-01"}, AT, "release_on: before the subject's date of birth"),
    (R, {"release_on": "2020-12-01"}, AT, "release_on: the 5-year assistance period ended before the file opens"),
    (R, {"release_on": "2026-03-01", "offence_date": "2026-02-01"}, AT, "offence_date: in the future"),
    (R, {"source": "correction", "release_on": "2026-01-06"}, AT, "release_on: in the future"),
    (R, {"source": "correction"}, replace(AT, opened_on=D("2025-11-30")), "opened_on: before release_on"),
    (G, {"order_served_on": "9999-12-31"}, AT, "order_served_on: in the future"),
    (G, {"order_served_on": "2022-01-01"}, AT, "order_served_on: more than the 3-year term before opening"),
    (G, {}, replace(AT, opened_on=D("2025-11-30")), "opened_on: before order_served_on (戒毒条例 Art. 14)"),
]


@pytest.mark.parametrize(("kind", "change", "at", "rule"), WINDOWS, ids=[w[3][:40] for w in WINDOWS])
def test_a_new_files_dates_lie_in_plausible_windows(kind, change, at, rule):
    """Checked on the day the file opens (`details.Opening`), against the subject's birth;
    the stored details are re-read later without the windows (a day later must not refuse them)."""
    with pytest.raises(ValidationError) as refused:
        details_model(kind).model_validate(DETAILS[kind] | change, context=at)
    assert rule in error_summary(refused.value)
    details_model(kind).model_validate(DETAILS[kind], context=AT)  # the stock details pass


DATE_FIELDS = [
    "judgment_effective_on",
    "term_starts_on",
    "term_ends_on",
    "offence_date",
    "release_on",
    "order_served_on",
]
date_text = st.dates(min_value=date.min, max_value=date.max).map(date.isoformat)


@settings(max_examples=300)
@given(kind=st.sampled_from(list(Kind)), dates=st.dictionaries(st.sampled_from(DATE_FIELDS), date_text))
def test_no_date_in_a_new_files_details_makes_anything_but_a_422(kind, dates):
    """Year 1 to 9999 in any date field: refused with a message naming fields and rules (no
    date sent in it), or valid, and then every derived date computes (release 9999-12-31 +
    5 years was an OverflowError, a 500)."""
    sent = DETAILS[kind] | {k: v for k, v in dates.items() if k in details_model(kind).model_fields}
    try:
        typed = details_model(kind).model_validate(sent, context=AT)
    except ValidationError as refused:
        summary = error_summary(refused)
        assert not any(value in summary for value in dates.values())
        return
    derived.at_opening(typed)
    derived.is_minor(BIRTH, typed, TODAY)


def test_a_derived_date_past_the_calendar_is_a_rule_violation():
    """The last guard (`derived.in_calendar`): stored details re-read without the windows."""
    far = details_model(R).model_validate(RESETTLEMENT | {"release_on": "9999-12-31"})
    with pytest.raises(RuleViolation, match=r"^dates: "):
        derived.at_opening(far)
    with pytest.raises(RuleViolation, match=r"^dates: "):
        derived.after_suspension(D("9999-12-01"), D("2026-01-01"), D("2026-03-01"))


def test_an_unknown_details_key_is_counted_never_named():
    with pytest.raises(ValidationError) as refused:
        details_model(C).model_validate(CORRECTION | {"张三110105199810291895": 1, "term_ends_on": {"x": 1}})
    assert error_summary(refused.value) == "term_ends_on: invalid; 1 key(s) not in the schema"


# -- term changes: a court's reduction (社区矫正法 Art. 33) --------------------------------


def _ruling(**change: Any) -> TermChange:
    return TermChange(
        **({"term_ends_on": D("2026-03-31"), "document_no": "(2026)测刑更1号", "decided_on": TODAY} | change)
    )


ORIGINAL = [Ruling(TODAY, "(2026)测刑更0号", D("2026-06-19"))]  # an earlier ruling, from the judgment's end
REDUCTIONS = [
    # (change to the ruling, the term end the details now say, earlier rulings, the rule)
    ({"term_ends_on": D("2026-12-31")}, "2026-06-19", [], "term_change.reduction"),  # longer
    ({"term_ends_on": D("2026-06-19")}, "2026-06-19", [], "term_change.reduction"),  # the same end
    ({"term_ends_on": D("2026-01-04")}, "2026-06-19", [], "term_change.term_ends_on: before the ruling"),
    ({"decided_on": D("2025-12-19")}, "2026-06-19", [], "term_change.decided_on: before the judgment"),
    ({"document_no": " (2025)测刑初1号 "}, "2026-06-19", [], "term_change.document_no"),  # the judgment's
    ({"document_no": "(2026)测刑更0号"}, "2026-04-30", ORIGINAL, "term_change.document_no"),  # used before
    ({"decided_on": D("2026-01-04")}, "2026-04-30", ORIGINAL, "before the file's latest ruling"),
    # Never after the original sentence's end, whatever the current details say.
    ({"term_ends_on": D("2026-06-30")}, "2026-12-31", ORIGINAL, "term_change.reduction"),
]


@pytest.mark.parametrize(("change", "current", "earlier", "rule"), REDUCTIONS, ids=[r[3] for r in REDUCTIONS])
def test_a_term_change_is_a_bounded_reduction(change, current, earlier, rule):
    """社区矫正法 Art. 33: the court's reduction ends the term earlier than now and than the
    judgment, not before the ruling; rulings in order, each with its own number."""
    before = details_model(C).model_validate(CORRECTION | {"term_ends_on": current})
    with pytest.raises(RuleViolation) as refused:
        terms.check_reduction(_ruling(**change), before, earlier)
    assert refused.value.detail.startswith(rule) or rule in refused.value.detail
    terms.check_reduction(_ruling(), before, earlier)  # a reduction to 2026-03-31 with a new number passes
