"""The checklist a transition's request may carry in `facts`, one model per workflow rule.

A request states what was done at the desk (documents checked, agreement signed); it never
states what the file records or what the service derives from it (terms, deadlines, the
key-person flag, the assistance period). So `facts` is validated against the checklist of
the one rule guarding the requested move: unknown keys, and any key on a move that has no
checklist, are refused (422), and every item is a strict boolean. Messages name the rule
and the allowed items, never the keys or values the caller sent (a key may be anything).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from registry.casefiles.workflows.common import Kind
from registry.errors import RuleViolation


class _Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoChecklist(_Checklist):
    """A move whose preconditions are all recorded facts or the request's `reason` and
    `certificate_no`: `facts` must be empty."""


class Intake(_Checklist):
    """社区矫正法 Art. 22: 核对法律文书、核实身份、宣告…应当遵守的规定."""

    documents_checked: StrictBool = False
    identity_verified: StrictBool = False
    rules_read: StrictBool = False


class Agreement(_Checklist):
    """戒毒条例 Art. 16 (社区戒毒协议), Art. 38 (社区康复协议)."""

    agreement_signed: StrictBool = False


CHECKLISTS: dict[tuple[Kind, str], type[_Checklist]] = {
    (Kind.community_correction, "intake"): Intake,
    (Kind.drug_rehabilitation, "agreement"): Agreement,
}


def checklist_model(kind: Kind | str, rule: str | None) -> type[_Checklist]:
    """The checklist of `rule` in `kind`'s workflow (`NoChecklist` when it has none)."""
    if rule is None:
        return NoChecklist
    return CHECKLISTS.get((Kind(kind), rule), NoChecklist)


def validated_checklist(kind: Kind | str, rule: str | None, facts: Mapping[str, Any]) -> dict[str, bool]:
    """`facts` checked against the rule's checklist, as a dict of its items; else 422."""
    model = checklist_model(kind, rule)
    try:
        return model.model_validate(dict(facts)).model_dump()
    except ValidationError:
        allowed = ", ".join(model.model_fields) or "none"
        name = rule or "this transition"
        raise RuleViolation(f"facts: only the checklist of {name} (items: {allowed}), each true or false") from None


def facts_for_rule(
    kind: Kind | str,
    rule: str | None,
    request_facts: Mapping[str, Any],
    recorded: Mapping[str, Any],
    *,
    reason: str | None,
    certificate_no: str | None,
) -> dict[str, Any]:
    """The facts a workflow rule reads: the request's checklist (validated, 422 otherwise),
    then what the file records and the service derives, which wins on any shared key, then
    the request's own statements (`reason`, `certificate_no`)."""
    checklist = validated_checklist(kind, rule, request_facts)
    return {**checklist, **recorded, "reason": reason, "certificate_no": certificate_no}
