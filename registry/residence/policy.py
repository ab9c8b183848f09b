"""Local settings of the residence rules (DOMAIN.md: local rules are settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.settings import Settings


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

    @classmethod
    def from_settings(cls, s: Settings) -> ResidencePolicy:
        """The one reading of the residence settings (API, importer, scheduler alike)."""
        return cls(
            report_days=s.registration_report_days,
            move_report_days=s.move_report_days,
            issue_days=s.permit_issue_days,
            verifications_per_minute=s.verifications_per_minute,
            issue_max_depth=s.permit_issue_max_depth,
        )
