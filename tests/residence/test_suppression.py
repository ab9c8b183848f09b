from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.residence.suppression import THRESHOLD, Cell, SuppressedCell, SuppressedRate, exposed, rate, suppress


def table(*parts: int) -> list[Cell]:
    return [Cell("total", sum(parts)), *(Cell(f"p{i}", value) for i, value in enumerate(parts))]


def hidden_parts(*parts: int) -> list[int]:
    """Indices of the parts suppressed (the total published)."""
    result = suppress(table(*parts), total_name="total")
    assert not result[0].suppressed
    return [i for i, cell in enumerate(result[1:]) if cell.suppressed]


def everything_suppressed(*parts: int) -> bool:
    return all(cell.suppressed and cell.value is None for cell in suppress(table(*parts), total_name="total"))


def test_nothing_small() -> None:
    assert suppress(table(10, 20, 30), total_name="total") == [
        SuppressedCell("total", 60, False),
        SuppressedCell("p0", 10, False),
        SuppressedCell("p1", 20, False),
        SuppressedCell("p2", 30, False),
    ]


def test_one_small_cell_gets_the_next_smallest_as_complement() -> None:
    assert hidden_parts(30, 3, 12, 9) == [1, 3]


def test_ties_are_taken_in_input_order() -> None:
    assert hidden_parts(2, 9, 30, 9, 40) == [0, 1]


def test_two_small_cells_need_no_complement() -> None:
    assert hidden_parts(2, 3, 40) == [0, 1]


def test_zero_is_suppressed() -> None:
    # A true zero would reveal that everyone counted falls in the other parts.
    assert hidden_parts(0, 2, 40) == [0, 1]
    assert suppress([Cell("a", 0), Cell("b", 12)], total_name=None) == [
        SuppressedCell("a", None, True),
        SuppressedCell("b", 12, False),
    ]


def test_threshold_itself_is_published() -> None:
    assert hidden_parts(THRESHOLD, 20) == []


def test_small_total_suppresses_everything() -> None:
    assert everything_suppressed(1, 1, 2)
    assert everything_suppressed(4)
    assert everything_suppressed()  # an empty partition has total 0


def test_bounds_attacks_are_closed() -> None:
    # Two primaries of 4 summing to 8 are both pinned at the maximum.
    assert exposed(table(4, 4, 30)[1:], {"p0", "p1"})
    assert hidden_parts(4, 4, 30, 50) == [0, 1, 2]
    # Two zeros sum to 0.
    assert hidden_parts(0, 0, 30, 50) == [0, 1, 2]
    # A 0 whose complement is exactly 5: the complement cannot be less than 5.
    assert exposed(table(0, 5, 20)[1:], {"p0", "p1"})
    # A 4 whose complement equals the smallest published part: it cannot be more.
    assert exposed(table(4, 6, 6, 50)[1:], {"p0", "p1"})
    assert hidden_parts(4, 6, 6, 50) == [0, 1, 2]
    assert not exposed(table(3, 10, 12)[1:], {"p0", "p1"})
    assert hidden_parts(3, 10, 12) == [0, 1]


def test_every_part_suppressed_and_still_exposed_suppresses_the_total() -> None:
    # p0 = 0 and p1 = 5 with no published part: 0 + 5 = 5 pins both at their lower bounds.
    assert everything_suppressed(0, 5)
    assert hidden_parts(0, 0, 30) == [0, 1, 2]  # 30 has no upper bound: not exposed


def test_no_total() -> None:
    cells = [Cell("a", 3), Cell("b", 7), Cell("c", 40)]
    assert [cell.suppressed for cell in suppress(cells, total_name=None)] == [True, False, False]


def test_order_and_names_are_kept() -> None:
    cells = [Cell("late", 3), Cell("total", 50), Cell("timely", 47)]
    result = suppress(cells, total_name="total")
    assert [cell.name for cell in result] == ["late", "total", "timely"]
    assert [cell.suppressed for cell in result] == [True, False, True]


@pytest.mark.parametrize(
    ("cells", "total_name", "threshold", "message"),
    [
        ([Cell("a", 1), Cell("a", 2)], None, 5, "unique"),
        ([Cell("a", -1)], None, 5, "negative"),
        ([Cell("a", 10)], "total", 5, "not among"),
        ([Cell("total", 10), Cell("a", 9)], "total", 5, "add up"),
        ([Cell("a", 10)], None, 0, "threshold"),
    ],
)
def test_invalid_input(cells: list[Cell], total_name: str | None, threshold: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        suppress(cells, total_name=total_name, threshold=threshold)


def test_rate() -> None:
    total, timely, late = suppress([Cell("total", 50), Cell("timely", 47), Cell("late", 3)], total_name="total")
    assert rate("timely_rate", timely, total) == SuppressedRate("timely_rate", None, True)
    total, timely, late = suppress([Cell("total", 50), Cell("timely", 40), Cell("late", 10)], total_name="total")
    assert rate("timely_rate", timely, total) == SuppressedRate("timely_rate", 0.8, False)
    assert rate("r", SuppressedCell("n", 2, False), SuppressedCell("d", 3, False), digits=2) == SuppressedRate(
        "r", 0.67, False
    )
    assert rate("r", SuppressedCell("n", 40, False), SuppressedCell("d", None, True)).suppressed
    assert rate("r", SuppressedCell("n", 0, False), SuppressedCell("d", 0, False)).suppressed


# -- properties --------------------------------------------------------------------------

parts_lists = st.lists(st.integers(0, 60) | st.integers(0, 6), max_size=8)


@given(parts_lists, st.integers(1, 12))
def test_no_part_recovered_by_subtraction(parts: list[int], threshold: int) -> None:
    cells = table(*parts)
    result = suppress(cells, total_name="total", threshold=threshold)
    assert [cell.name for cell in result] == [cell.name for cell in cells]
    for cell, out in zip(cells, result, strict=True):
        assert out.value == (None if out.suppressed else cell.value)
        if cell.value < threshold:
            assert out.suppressed  # primary
    suppressed_parts = sum(out.suppressed for out in result[1:])
    # Either nothing is hidden, or at least two parts are, or the total itself is.
    assert result[0].suppressed or suppressed_parts != 1
    if result[0].suppressed:
        assert all(out.suppressed for out in result)


def _feasible_values(parts: list[int], result: list[SuppressedCell], threshold: int) -> dict[int, set[int]]:
    """A reader who knows each suppressed part's role: a primary is below the threshold, a
    complement is at least the threshold and at most the smallest published part. Enumerate
    every assignment matching the published total; return the values each part can take."""
    hidden = [i for i, out in enumerate(result[1:]) if out.suppressed]
    remainder = result[0].value - sum(out.value for out in result[1:] if not out.suppressed)
    ceiling = min((out.value for out in result[1:] if not out.suppressed), default=math.inf)
    ranges = [
        range(0, threshold) if parts[i] < threshold else range(threshold, int(min(ceiling, remainder)) + 1)
        for i in hidden
    ]
    seen: dict[int, set[int]] = {i: set() for i in hidden}
    for combo in itertools.product(*ranges):
        if sum(combo) == remainder:
            for i, value in zip(hidden, combo, strict=True):
                seen[i].add(value)
    return seen


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 25) | st.integers(0, 7), max_size=5), st.integers(2, 6))
def test_no_part_pinned_by_bounds(parts: list[int], threshold: int) -> None:
    result = suppress(table(*parts), total_name="total", threshold=threshold)
    if result[0].suppressed:
        return
    for i, values in _feasible_values(parts, result, threshold).items():
        assert parts[i] in values
        assert len(values) >= 2, (parts, i)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=3))
def test_no_part_pinned_by_a_reader_who_reruns_the_algorithm(parts: list[int]) -> None:
    """The strongest reader: tries every value of the suppressed parts adding up to the
    published total and keeps those for which `suppress` gives the same output."""
    result = suppress(table(*parts), total_name="total")
    if result[0].suppressed:
        return
    hidden = [i for i, out in enumerate(result[1:]) if out.suppressed]
    remainder = result[0].value - sum(out.value for out in result[1:] if not out.suppressed)
    seen: dict[int, set[int]] = {i: set() for i in hidden}
    for combo in itertools.product(range(remainder + 1), repeat=len(hidden)):
        if sum(combo) != remainder:
            continue
        candidate = list(parts)
        for i, value in zip(hidden, combo, strict=True):
            candidate[i] = value
        if suppress(table(*candidate), total_name="total") == result:
            for i, value in zip(hidden, combo, strict=True):
                seen[i].add(value)
    assert all(len(values) >= 2 for values in seen.values()), (parts, seen)


@given(parts_lists)
def test_deterministic(parts: list[int]) -> None:
    assert suppress(table(*parts), total_name="total") == suppress(table(*parts), total_name="total")
