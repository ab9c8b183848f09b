"""Small-cell and complementary suppression for statistics tables (DOMAIN.md "Statistics").

One call protects one partition: parts that add up to a published total (permits by state
and their total; timely and late registrations and their total). Rules, in order:

1. Primary: every cell below `threshold` (5) is suppressed, **zero included**. DOMAIN.md says
   "any cell below 5", and a published zero is disclosive in small units: it tells that
   everyone counted in the total falls in the other parts (a group disclosure), and it would
   tell readers that a suppressed cell is 1-4, never 0, which narrows it.
2. If the total itself is suppressed, everything is (every part is then below the threshold
   anyway).
3. Complementary: while some suppressed part could be recovered exactly, the next smallest
   published part (ties in input order) is suppressed too. "Recovered exactly" is judged
   against a reader who knows the published total and parts, and, conservatively, which
   suppressed parts are primary (0 to threshold - 1) and which are complements (at least the
   threshold and at most the smallest published part, since complements are taken smallest
   first). A single suppressed part is always exposed (total − published); so are, e.g., a
   suppressed 0 whose complement is exactly 5, or two primaries of 4 summing to 8.
4. If every part is suppressed and one is still exposed, the total is suppressed as well.

Without a total (`total_name=None`) the cells are independent counts: only rule 1 applies.
Cells linked across several partitions (a two-way table) are out of scope.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

THRESHOLD = 5


@dataclass(frozen=True)
class Cell:
    name: str
    value: int


@dataclass(frozen=True)
class SuppressedCell:
    name: str
    value: int | None  # None when suppressed
    suppressed: bool


@dataclass(frozen=True)
class SuppressedRate:
    name: str
    value: float | None
    suppressed: bool


def suppress(cells: Sequence[Cell], *, total_name: str | None, threshold: int = THRESHOLD) -> list[SuppressedCell]:
    """The cells in input order, each published or suppressed (see the module docstring)."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    names = [cell.name for cell in cells]
    if len(set(names)) != len(names):
        raise ValueError("cell names must be unique")
    if any(cell.value < 0 for cell in cells):
        raise ValueError("counts are never negative")
    hidden = {cell.name for cell in cells if cell.value < threshold}
    if total_name is not None:
        if total_name not in names:
            raise ValueError("the total is not among the cells")
        total = cells[names.index(total_name)]
        parts = [cell for cell in cells if cell.name != total_name]
        if sum(part.value for part in parts) != total.value:
            raise ValueError("the parts do not add up to the total")
        if total.name not in hidden:
            hidden |= _complements(parts, hidden, threshold)
            if exposed(parts, hidden, threshold=threshold):
                hidden.add(total.name)
        if total.name in hidden:
            hidden = set(names)
    return [SuppressedCell(c.name, None if c.name in hidden else c.value, c.name in hidden) for c in cells]


def _complements(parts: Sequence[Cell], primary: set[str], threshold: int) -> set[str]:
    hidden = set(primary)
    # `sorted` is stable: equal values are taken in input order.
    candidates = sorted((part for part in parts if part.name not in hidden), key=lambda part: part.value)
    for candidate in candidates:
        if not exposed(parts, hidden, threshold=threshold):
            break
        hidden.add(candidate.name)
    return hidden


def exposed(parts: Sequence[Cell], hidden: Collection[str], *, threshold: int = THRESHOLD) -> bool:
    """Whether a reader could pin down a suppressed part exactly, given the published total
    and parts and each suppressed part's bounds (module docstring, rule 3)."""
    suppressed = [part for part in parts if part.name in hidden]
    if not suppressed:
        return False
    ceiling = min((part.value for part in parts if part.name not in hidden), default=math.inf)
    bounds = [(0, threshold - 1) if part.value < threshold else (threshold, ceiling) for part in suppressed]
    hidden_sum = sum(part.value for part in suppressed)  # = total − published parts
    for i, (low, high) in enumerate(bounds):
        # Range of this part given the others' bounds and the known sum of all suppressed parts.
        others = bounds[:i] + bounds[i + 1 :]
        lowest = max(low, hidden_sum - sum(other_high for _, other_high in others))
        highest = min(high, hidden_sum - sum(other_low for other_low, _ in others))
        if lowest == highest:
            return True
    return False


def rate(name: str, numerator: SuppressedCell, denominator: SuppressedCell, *, digits: int = 4) -> SuppressedRate:
    """numerator ÷ denominator, suppressed when either count is: a published rate and a
    published denominator would give the suppressed numerator back (and conversely).

    E.g. the timely-registration rate: `suppress([total, timely, late], total_name="total")`,
    then `rate("timely_rate", timely, total)`.
    """
    if numerator.suppressed or denominator.suppressed or not denominator.value or numerator.value is None:
        return SuppressedRate(name, None, True)
    return SuppressedRate(name, round(numerator.value / denominator.value, digits), False)
