"""Who sees which sealed residence field (PRIVACY.md §3 masking)."""

from __future__ import annotations

from registry.access.policy import Role
from registry.disclosure import Visibility

V = Visibility
RESIDENCE_FIELDS = ("address", "employer_name", "employer_uscc", "permit_no")
VISIBILITY: dict[Role, dict[str, Visibility]] = {
    Role.POLICE: dict.fromkeys(RESIDENCE_FIELDS, V.FULL),
    Role.CIVIL_AFFAIRS: dict.fromkeys(RESIDENCE_FIELDS, V.FULL),
}
