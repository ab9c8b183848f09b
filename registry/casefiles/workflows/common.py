"""What every casefile workflow shares: the kinds, the `Workflow` table type, and small
checks of transition facts. Pure: no database, no clock; dates are arguments.

A workflow is data: a set of states, an initial state, the terminal states and a table
`(from, to) → rule name | None`. A pair missing from the table is a state conflict
(`Conflict`, 409: "transition: cannot …"). A pair present with a rule name is allowed only
when that rule's preconditions hold on the facts the caller supplies; otherwise
`RuleViolation` (422) whose detail starts with the rule name ("discharge.certificate_no: …").

`facts` is what the caller knows about the transition: the request body (`reason`,
`certificate_no`), the casefile's details (`term_ends_on`, `key_person`, …) and checklists.
Each rule documents the keys it reads. Messages name rules and fact keys, never values.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from registry.errors import ConfigurationError, Conflict, RuleViolation

Facts = Mapping[str, object]
Rule = Callable[[date, Facts], None]


class Kind(StrEnum):
    """The three casefile kinds (DOMAIN.md, Special-group casefiles). Nothing else."""

    community_correction = "community_correction"
    resettlement = "resettlement"
    drug_rehabilitation = "drug_rehabilitation"


@dataclass(frozen=True)
class Workflow:
    """One state machine as data. `transitions` maps `(from, to)` to the name of the rule that
    must hold (a key of `rules`) or None when the move needs nothing but being allowed."""

    name: str
    states: frozenset[str]
    initial: str
    transitions: Mapping[tuple[str, str], str | None]
    terminal: frozenset[str]
    rules: Mapping[str, Rule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A malformed table is a programming error: fail at import, not on a request.
        if self.initial not in self.states or not self.terminal <= self.states:
            raise ConfigurationError(f"workflow {self.name}: initial or terminal state not in states")
        for (frm, to), rule in self.transitions.items():
            if frm not in self.states or to not in self.states:
                raise ConfigurationError(f"workflow {self.name}: transition uses an unknown state")
            if frm in self.terminal:
                raise ConfigurationError(f"workflow {self.name}: transition out of terminal state {frm}")
            if rule is not None and rule not in self.rules:
                raise ConfigurationError(f"workflow {self.name}: rule {rule} has no check")

    @property
    def TRANSITIONS(self) -> Mapping[tuple[str, str], str | None]:  # noqa: N802  (the table's house name)
        return self.transitions

    def next_states(self, frm: str) -> frozenset[str]:
        """The states reachable from `frm` in one step (empty for a terminal state)."""
        return frozenset(to for (f, to) in self.transitions if f == frm)

    def is_terminal(self, state: str) -> bool:
        return state in self.terminal

    def rule_for(self, frm: str, to: str) -> str | None:
        """The rule guarding `frm → to`; `Conflict` if the transition is not defined."""
        if frm not in self.states or to not in self.states:
            raise Conflict("transition: unknown state")
        if (frm, to) not in self.transitions:
            raise Conflict(f"transition: cannot go from {frm} to {to}")
        return self.transitions[(frm, to)]

    def check_transition(self, frm: str, to: str, *, on: date, facts: Facts | None = None) -> None:
        """`Conflict` for a transition not in the table; `RuleViolation` naming the rule when a
        defined transition's preconditions fail. Returns None when the move may be recorded."""
        rule = self.rule_for(str(frm), str(to))
        if rule is not None:
            self.rules[rule](on, facts or {})


# -- fact checks shared by the rules ------------------------------------------------------


def require_text(facts: Facts, key: str, rule: str, why: str) -> str:
    """A non-blank string under `key`, else `RuleViolation("<rule>.<key>: <why>")`."""
    value = facts.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RuleViolation(f"{rule}.{key}: {why}")
    return value


def require_date(facts: Facts, key: str, rule: str) -> date:
    value = facts.get(key)
    if not isinstance(value, date):
        raise RuleViolation(f"{rule}.{key}: the date is required")
    return value


def require_flags(facts: Facts, keys: Iterable[str], rule: str, why: str) -> None:
    """Every key must be exactly `True` (a checklist); the detail lists the missing items."""
    missing = [key for key in keys if facts.get(key) is not True]
    if missing:
        raise RuleViolation(f"{rule}.checklist: not done: {', '.join(missing)} ({why})")


def require_not_before(on: date, limit: date, rule: str, why: str) -> None:
    if on < limit:
        raise RuleViolation(f"{rule}: {why}")


def check_transition_date(
    on: date, *, opened_on: date, last_event_on: date | None, today: date, backdate_days: int
) -> None:
    """Bounds on the date a transition states (issue 13: a closure back-dated to before the
    file existed started a retention clock that had already run out). Not in the future, not
    before the file was opened or its latest timeline entry, and back-dated by at most
    `backdate_days` (setting `casefile_backdate_days`)."""
    if on > today:
        raise RuleViolation("transition.on: in the future")
    if on < opened_on:
        raise RuleViolation("transition.on: before the file was opened")
    if (today - on).days > backdate_days:
        raise RuleViolation(f"transition.on: back-dated more than {backdate_days} days (casefile_backdate_days)")
    if last_event_on is not None and on < last_event_on:
        raise RuleViolation("transition.on: before the latest entry of the file's timeline")


# -- calendar -------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same day `years` calendar years later; Feb 29 becomes Feb 28 in a common year."""
    year = day.year + years
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, clamped to the end of a shorter month."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def inclusive_days(starts_on: date, ends_on: date) -> int:
    """Days in a period counting both ends: a period from the 1st to the 10th is 10 days."""
    return (ends_on - starts_on).days + 1
