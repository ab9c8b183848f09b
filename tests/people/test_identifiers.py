from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registry.errors import RuleViolation
from registry.people.identifiers import (
    IdNumber,
    InvalidIdentifier,
    display_name,
    id_number_check_char,
    normalise_name,
    normalise_phone,
    parse_id_number,
    parse_uscc,
    uscc_check_char,
)

TODAY = date(2026, 3, 15)
KNOWN_ID = "11010519491231002X"
KNOWN_USCC = "91350100M000100Y43"  # the worked example of GB 32100-2015
PROVINCES = (
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
    "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
    "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83",
)  # fmt: skip
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def with_check(first17: str) -> str:
    return first17 + id_number_check_char(first17)


def assert_no_leak(exc: InvalidIdentifier, value: str) -> None:
    message = str(exc)
    assert message == exc.detail
    assert exc.extra == {}
    core = value.strip()
    # Short fragments ("1", ")") occur in any text; what must not appear is the value.
    if len(core) >= 5:
        assert core not in message
        assert core not in repr(exc)
    # Fixed rule texts hold at most a 4-digit year; an identifier fragment would be longer.
    assert not re.search(r"[0-9]{5,}", message)


first17s = st.builds(
    lambda province, rest, born, seq: f"{province}{rest}{born:%Y%m%d}{seq:03d}",
    st.sampled_from(PROVINCES),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.integers(0, 999),
)

uscc_first17s = st.builds(
    lambda head, region, org: head + region + org,
    st.text(USCC_CHARSET, min_size=2, max_size=2),
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    st.text(USCC_CHARSET, min_size=9, max_size=9),
)


# --- ID number ------------------------------------------------------------------------


def test_known_valid_id_number() -> None:
    parsed = parse_id_number(KNOWN_ID, today=TODAY)
    assert parsed.value == KNOWN_ID
    assert parsed.region_code == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"
    assert id_number_check_char(KNOWN_ID[:17]) == "X"


def test_id_number_repr_hides_value() -> None:
    parsed = parse_id_number(KNOWN_ID, today=TODAY)
    assert KNOWN_ID not in repr(parsed)
    assert "1949" not in repr(parsed)
    assert str(parsed) == KNOWN_ID


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        f"  {KNOWN_ID}\n",
        f"\u3000{KNOWN_ID}\u3000",
        full_width(KNOWN_ID),
        full_width(KNOWN_ID.lower()),
    ],
)
def test_accepted_spellings_normalise(raw: str) -> None:
    assert parse_id_number(raw, today=TODAY).value == KNOWN_ID


def test_invalid_identifier_is_a_rule_violation() -> None:
    assert issubclass(InvalidIdentifier, RuleViolation)
    assert InvalidIdentifier.status == 422


@given(first17s)
def test_round_trip(first17: str) -> None:
    value = with_check(first17)
    parsed = parse_id_number(value, today=TODAY)
    assert parsed == IdNumber(
        value=value,
        region_code=first17[:6],
        birth_date=date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14])),
        sex="male" if int(first17[16]) % 2 else "female",
    )
    assert parse_id_number(value.lower(), today=TODAY) == parsed


@given(first17s, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_is_refused(first17: str, pos: int, char: str) -> None:
    value = with_check(first17)
    assume(value[pos] != char and (char != "X" or pos == 17))
    corrupted = value[:pos] + char + value[pos + 1 :]
    with pytest.raises(InvalidIdentifier) as caught:
        parse_id_number(corrupted, today=TODAY)
    assert_no_leak(caught.value, corrupted)


@given(first17s, st.integers(0, 15))
def test_adjacent_transposition_is_refused(first17: str, pos: int) -> None:
    value = with_check(first17)
    assume(value[pos] != value[pos + 1])
    swapped = value[:pos] + value[pos + 1] + value[pos] + value[pos + 2 :]
    with pytest.raises(InvalidIdentifier):
        parse_id_number(swapped, today=TODAY)


def test_birth_date_today_accepted_tomorrow_refused() -> None:
    assert parse_id_number(with_check(f"320571{TODAY:%Y%m%d}001"), today=TODAY).sex == "male"
    tomorrow = TODAY + timedelta(days=1)
    with pytest.raises(InvalidIdentifier, match="birth date is in the future"):
        parse_id_number(with_check(f"320571{tomorrow:%Y%m%d}001"), today=TODAY)


def test_today_is_required() -> None:
    with pytest.raises(TypeError):
        parse_id_number(KNOWN_ID)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("first17", "rule"),
    [
        ("32057119900230001", "birth date is not a real date"),  # 30 February
        ("32057120010229001", "birth date is not a real date"),  # not a leap year
        ("32057119901301001", "birth date is not a real date"),
        ("32057119900100001", "birth date is not a real date"),
        ("32057118991231001", "birth date is before 1900"),
        ("99057119900101001", "region code is not valid"),
        ("01057119900101001", "region code is not valid"),
        ("10057119900101001", "region code is not valid"),
        ("84057119900101001", "region code is not valid"),
    ],
)
def test_refused_with_rule(first17: str, rule: str) -> None:
    value = with_check(first17)
    with pytest.raises(InvalidIdentifier, match=f"^id_number: {rule}$") as caught:
        parse_id_number(value, today=TODAY)
    assert_no_leak(caught.value, value)


def test_leap_day_accepted() -> None:
    assert parse_id_number(with_check("32057120000229002"), today=TODAY).birth_date == date(2000, 2, 29)


def test_wrong_check_character_message() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_id_number("110105194912310021", today=TODAY)
    assert caught.value.detail == "id_number: check character does not match"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        KNOWN_ID[:17],
        KNOWN_ID + "1",
        "X" + KNOWN_ID[1:],
        "1101051949123100X2",
        "11010519491231002Y",
        "110105 19491231002X",
        "\u0661" + KNOWN_ID[1:],  # Arabic-Indic digit one: a digit, but not 0-9
        "110105194912310",  # old 15-digit format is not accepted
    ],
)
def test_malformed_id_numbers(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_id_number(raw, today=TODAY)
    assert caught.value.detail == "id_number: must be 17 digits followed by a check character"
    assert_no_leak(caught.value, raw)


def test_non_string_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="must be a string"):
        parse_id_number(110105194912310020, today=TODAY)  # type: ignore[arg-type]


@given(st.text(alphabet="0123456789Xx \u3000０１２３４５６７８９Ｘ", max_size=22))
def test_messages_never_contain_the_value(raw: str) -> None:
    try:
        parse_id_number(raw, today=TODAY)
    except InvalidIdentifier as exc:
        assert_no_leak(exc, raw)


@pytest.mark.parametrize("bad", ["", "1234567890123456", "123456789012345678", "1234567890123456X"])
def test_check_char_input_validated(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        id_number_check_char(bad)


# --- Unified social credit code -------------------------------------------------------


def test_known_valid_uscc() -> None:
    assert parse_uscc(KNOWN_USCC) == KNOWN_USCC
    assert parse_uscc(f" {KNOWN_USCC.lower()} ") == KNOWN_USCC
    assert parse_uscc(full_width(KNOWN_USCC)) == KNOWN_USCC
    assert uscc_check_char(KNOWN_USCC[:17]) == "3"


@given(uscc_first17s)
def test_uscc_round_trip(first17: str) -> None:
    code = first17 + uscc_check_char(first17)
    assert parse_uscc(code) == code
    assert parse_uscc(code.lower()) == code


@given(uscc_first17s, st.integers(0, 17), st.sampled_from(USCC_CHARSET))
def test_uscc_single_character_change_is_refused(first17: str, pos: int, char: str) -> None:
    code = first17 + uscc_check_char(first17)
    assume(code[pos] != char)
    corrupted = code[:pos] + char + code[pos + 1 :]
    with pytest.raises(InvalidIdentifier) as caught:
        parse_uscc(corrupted)
    assert_no_leak(caught.value, corrupted)


@pytest.mark.parametrize("letter", "IOSVZ")
def test_uscc_letters_outside_alphabet_refused(letter: str) -> None:
    corrupted = KNOWN_USCC[:8] + letter + KNOWN_USCC[9:]
    with pytest.raises(InvalidIdentifier, match="outside the code alphabet"):
        parse_uscc(corrupted)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        KNOWN_USCC[:17],
        KNOWN_USCC + "0",
        "913501A0M000100Y43",
        "9135010\u0131M000100Y43",
    ],
)
def test_malformed_uscc(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_uscc(raw)
    assert_no_leak(caught.value, raw)


def test_uscc_check_char_input_validated() -> None:
    with pytest.raises(InvalidIdentifier):
        uscc_check_char(KNOWN_USCC[:17].lower())


# --- Phone ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+86 138 1234 5678",
        "0086-13812345678",
        "8613812345678",
        "+86-138-1234-5678",
        "(+86) 138 1234 5678",
        "138-1234-5678",
        " 138\t1234\u30005678 ",
        "１３８１２３４５６７８",
        "＋８６ １３８－１２３４－５６７８",
        "(138)12345678",
        "（１３８）１２３４５６７８",
        "+8613812345678 ",
    ],
)
def test_phone_variants(raw: str) -> None:
    assert normalise_phone(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "010-12345678",  # Beijing landline
        "0512-68123456",  # Suzhou landline
        "+86 10 1234 5678",
        "138123456789",  # 12 digits
        "1381234567",  # 10 digits
        "12812345678",  # 12x is not a mobile range
        "11812345678",
        "+1 138 1234 5678",
        "+86 1381234567",
        "86+13812345678",
        "138.1234.5678",
        "\u0661\u0663\u0668" + "12345678",
    ],
)
def test_phone_refusals(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalise_phone(raw)
    assert caught.value.detail == "phone: not a mainland mobile number"
    assert_no_leak(caught.value, raw)


@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["", "+86", "0086", "86", "+86 ", "0086-"]),
    st.lists(st.sampled_from([" ", "-", "\u3000", "\t"]), min_size=10, max_size=10),
)
def test_phone_round_trip(mobile: str, prefix: str, separators: list[str]) -> None:
    spaced = mobile[0] + "".join(sep + digit for sep, digit in zip(separators, mobile[1:], strict=False))
    assert normalise_phone(prefix + spaced) == mobile
    assert normalise_phone(full_width(prefix + mobile)) == mobile


@given(st.text(alphabet="0123456789+-() ", max_size=20))
def test_phone_messages_never_contain_the_value(raw: str) -> None:
    try:
        normalise_phone(raw)
    except InvalidIdentifier as exc:
        assert_no_leak(exc, raw)


# --- Names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张三"),
        (" 张 三 ", "张三"),
        ("张\u3000三", "张三"),
        ("买买提·艾力", "买买提·艾力"),
        ("ＡＢＣ\tdef", "ABCdef"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张三"),
        ("  李  小\u3000龙 ", "李 小 龙"),
        ("Anna\n  Müller", "Anna Müller"),
        ("ＡＢＣ", "ABC"),
        ("王" * 100, "王" * 100),
    ],
)
def test_display_name(raw: str, expected: str) -> None:
    assert display_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "must not be empty"),
        (" \u3000\t", "must not be empty"),
        ("王" * 101, "longer than 100 characters"),
        ("张\x00三", "contains a control character"),
        ("张\x1b三", "contains a control character"),
        ("张\x85三", "contains a control character"),
        ("张\u202e三", "contains a control character"),
        ("张\u200b三", "contains a control character"),  # zero-width space
        ("张\u200d三", "contains a control character"),  # zero-width joiner
        ("\ufeff张三", "contains a control character"),  # byte-order mark
        ("张\u00ad三", "contains a control character"),  # soft hyphen
    ],
)
def test_display_name_refusals(raw: str, rule: str) -> None:
    with pytest.raises(InvalidIdentifier, match=f"^name: {rule}$"):
        display_name(raw)


@given(st.text())
def test_normalise_name_is_idempotent_and_whitespace_free(raw: str) -> None:
    key = normalise_name(raw)
    assert normalise_name(key) == key
    assert not any(c.isspace() for c in key)


@given(st.text(max_size=120))
def test_display_name_is_idempotent_and_indexes_like_the_raw_value(raw: str) -> None:
    try:
        shown = display_name(raw)
    except InvalidIdentifier:
        return
    assert display_name(shown) == shown
    assert normalise_name(shown) == normalise_name(raw)


@pytest.mark.parametrize("prefix", [f"{n:02d}" for n in range(100)])
def test_region_prefix_must_be_a_province(prefix: str) -> None:
    value = with_check(f"{prefix}057119900101001")
    if prefix in PROVINCES:
        assert parse_id_number(value, today=TODAY).region_code == f"{prefix}0571"
    else:
        with pytest.raises(InvalidIdentifier, match="region code is not valid"):
            parse_id_number(value, today=TODAY)
