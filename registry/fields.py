"""Constrained field types that several request models share, described once. Patterns use
`[0-9]`, not `\\d`: the validator's `\\d` also matches other scripts' digits, JSON Schema's
does not, and the two must refuse the same values."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

OrgUnitCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}){0,3}$"),
    Field(description="An org unit's code: the division code (6 digits), then 3 digits per level below."),
]
StreetCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]  # a street/town org unit (9 digits)
