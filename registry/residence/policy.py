"""Local settings of the residence rules (DOMAIN.md: local rules are settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResidencePolicy:
    report_days: int = 3  # registration within 3 days of arrival
    move_report_days: int = 10  # a move reported within 10 days
    issue_days: int = 15  # issue within 15 days of acceptance (Art. 9; at most 30)
    min_months: int = 6  # eligibility: registered at least 6 months (Art. 2)
    verifications_per_minute: int = 30  # per verifier account
    # Art. 10: county-level public security issues. Depth of the account's org unit from the
    # root: 1 city, 2 district/county (the city → district → street tree of the demo and tests).
    issue_max_depth: int = 2
