"""The masks of the disclosure path (registry/disclosure.py), value by value.

A masked field is one the role only needs to recognise, so each mask shows an exact,
fixed part and nothing more: a mask that showed more (8 leading characters of an ID
number, a whole phone number) would still pass a test that only checks a prefix and a
suffix, so these tests check every character of the output.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.disclosure import birth_year, mask_id_number, mask_name, mask_phone, mask_text
from registry.people.synthetic import SyntheticPeople, SyntheticPerson

PEOPLE = list(SyntheticPeople(seed=1212).people(50))


# --- ID numbers: 4 leading and 4 trailing characters ---------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("11010519491231002X", "1101**********002X"),
        ("440524188001010014", "4405**********0014"),
        ("110105491231002", "1101*******1002"),  # a 15-digit first-generation number
    ],
)
def test_mask_id_number_literal(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked


@pytest.mark.parametrize("person", PEOPLE[:20], ids=lambda p: f"born{p.birth_date.year}")
def test_mask_id_number_shows_exactly_four_and_four(person: SyntheticPerson) -> None:
    value = person.id_number
    masked = mask_id_number(value)
    assert len(masked) == len(value) == 18
    assert masked[:4] == value[:4]
    assert masked[4:14] == "*" * 10  # the region's county, the whole birth date, the sequence
    assert masked[14:] == value[14:]
    assert value[4:14] not in masked


@given(st.text(alphabet="0123456789X", min_size=9, max_size=18))
def test_mask_id_number_hides_all_but_the_ends(value: str) -> None:
    masked = mask_id_number(value)
    assert masked == value[:4] + "*" * (len(value) - 8) + value[-4:]


# --- phones: 3 leading and 4 trailing digits -------------------------------------------------


@pytest.mark.parametrize(("value", "masked"), [("13800138000", "138****8000"), ("19912345678", "199****5678")])
def test_mask_phone_literal(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize("person", PEOPLE[:20], ids=lambda p: p.phone[:3])
def test_mask_phone_keeps_three_and_four(person: SyntheticPerson) -> None:
    value = person.phone
    masked = mask_phone(value)
    assert masked == value[:3] + "****" + value[7:]
    assert masked != value
    assert value[3:7] not in masked[3:]


# --- names: the first character, then one star per further character (at least one) ---------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李*"), ("Zhang San", "Z********")],
)
def test_mask_name_literal(value: str, masked: str) -> None:
    assert mask_name(value) == masked


@pytest.mark.parametrize("person", PEOPLE[:20], ids=lambda p: f"{len(p.name)}chars")
def test_mask_name_keeps_only_the_first_character(person: SyntheticPerson) -> None:
    value = person.name
    masked = mask_name(value)
    assert masked == value[0] + "*" * (len(value) - 1)
    assert masked != value


@given(st.text(alphabet=st.characters(blacklist_characters="*"), min_size=1, max_size=30))
def test_mask_name_never_shows_more_than_one_character(value: str) -> None:
    masked = mask_name(value)
    assert masked != value  # a one-character name still gets a star
    assert masked[0] == value[0]
    assert set(masked[1:]) == {"*"}
    assert len(masked) == max(len(value), 2)


# --- free text: at most the first 6 characters and an ellipsis --------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("", "…"),
        ("short", "…"),
        ("sixsix", "…"),  # six characters: showing six would show all of it
        ("seven!!", "seven!…"),
        ("材料不全，请补交户口簿复印件", "材料不全，请…"),
    ],
)
def test_mask_text_literal(value: str, masked: str) -> None:
    assert mask_text(value) == masked


@given(st.text(max_size=60))
def test_mask_text_never_returns_the_value(value: str) -> None:
    masked = mask_text(value)
    assert masked.endswith("…")
    assert len(masked) <= 7
    assert masked[:-1] == (value[:6] if len(value) > 6 else "")
    if value and set(value) != {"…"}:
        assert masked != value


# --- birth dates in search hits: the year only -----------------------------------------------------


@pytest.mark.parametrize("person", PEOPLE[:5], ids=lambda p: str(p.birth_date.year))
def test_birth_year(person: SyntheticPerson) -> None:
    born = person.birth_date
    assert birth_year(born.isoformat()) == str(born.year)
