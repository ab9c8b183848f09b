from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.people.identifiers import (
    display_name,
    normalise_phone,
    parse_id_number,
    parse_uscc,
)
from registry.people.synthetic import REGION_CODES, SyntheticPeople, SyntheticPerson

TODAY = date(2026, 3, 15)


@pytest.fixture(scope="module")
def population() -> list[SyntheticPerson]:
    return list(SyntheticPeople(seed=20240601).people(10_000))


def test_ten_thousand_valid_people(population: list[SyntheticPerson]) -> None:
    for person in population:
        parsed = parse_id_number(person.id_number, today=TODAY)
        assert parsed.value == person.id_number
        assert parsed.sex == person.sex
        assert parsed.birth_date == person.birth_date
        assert parsed.region_code in REGION_CODES
        assert date(1940, 1, 1) <= person.birth_date <= date(2008, 12, 31)
        assert normalise_phone(person.phone) == person.phone
        assert display_name(person.name) == person.name
        assert 2 <= len(person.name) <= 3
        assert person.hukou_address.endswith(("号", "室"))


def test_identifiers_are_unique(population: list[SyntheticPerson]) -> None:
    assert len({p.id_number for p in population}) == len(population)
    assert len({p.phone for p in population}) == len(population)


def test_population_is_varied(population: list[SyntheticPerson]) -> None:
    sexes = [p.sex for p in population]
    assert 0.45 < sexes.count("male") / len(sexes) < 0.55
    assert {p.id_number[:6] for p in population} == set(REGION_CODES)
    assert len({p.name for p in population}) > 5_000


@given(st.integers(min_value=0, max_value=2**64))
@settings(max_examples=25)
def test_deterministic_per_seed(seed: int) -> None:
    def sample(generator: SyntheticPeople) -> tuple[object, ...]:
        return (
            *generator.people(20),
            generator.uscc(),
            generator.company_name(),
            generator.address(),
        )

    assert sample(SyntheticPeople(seed)) == sample(SyntheticPeople(seed))


def test_different_seeds_differ() -> None:
    assert list(SyntheticPeople(1).people(5)) != list(SyntheticPeople(2).people(5))


def test_organisations_and_addresses() -> None:
    generator = SyntheticPeople(seed=7)
    for _ in range(1_000):
        code = generator.uscc()
        assert parse_uscc(code) == code
        assert code[2:8] in REGION_CODES
        assert generator.company_name().endswith("公司")
        assert "号" in generator.address()
