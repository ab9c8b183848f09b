"""Personal and organisational identifiers: parsing, check characters, normalisation.

Pure functions: no clock (callers pass `today`), no I/O. Errors name the rule that
failed and never echo the value: messages reach clients and logs (see `registry.errors`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

from registry.errors import RuleViolation

__all__ = [
    "IdNumber",
    "InvalidIdentifier",
    "Sex",
    "display_name",
    "id_number_check_char",
    "normalise_name",
    "normalise_phone",
    "parse_id_number",
    "parse_uscc",
    "uscc_check_char",
]

Sex = Literal["male", "female"]


class InvalidIdentifier(RuleViolation):
    """An identifier failed a format rule; `detail` names the rule, never the value."""

    title = "Invalid identifier"


def _nfkc(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{field}: must be a string")
    # NFKC folds full-width digits and letters (common from Chinese IMEs) to ASCII.
    return unicodedata.normalize("NFKC", value)


# --- GB 11643-1999: citizen identity number ---------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"  # index S mod 11 -> (12 - S mod 11) mod 11, 10 as X
# Explicit [0-9]: `\d` and str.isdigit() also accept non-ASCII digits NFKC keeps.
_ID_SHAPE = re.compile(r"([0-9]{17})([0-9Xx])")
_FIRST17 = re.compile(r"[0-9]{17}")
# GB/T 2260 province-level codes (incl. Taiwan 71, Hong Kong 81, Macao 82; 83 is the
# prefix of the residence-permit numbers issued to Taiwan residents).
_PROVINCE = re.compile(r"1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3]")
_EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True, repr=False)
class IdNumber:
    """A valid ID number and what it encodes; `repr` hides it so logs cannot leak it."""

    value: str  # 18 characters, check character upper-case
    region_code: str
    birth_date: date
    sex: Sex

    def __repr__(self) -> str:
        return "IdNumber(<redacted>)"

    def __str__(self) -> str:
        return self.value


def _id_check(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def id_number_check_char(first17: str) -> str:
    """The check character (`0`-`9` or `X`) for the first 17 digits of an ID number."""
    if not isinstance(first17, str) or not _FIRST17.fullmatch(first17):
        raise InvalidIdentifier("id_number: expected 17 digits")
    return _id_check(first17)


def parse_id_number(value: str, *, today: date) -> IdNumber:
    """Validate an 18-character ID number; birth date must be in [1900-01-01, today]."""
    match = _ID_SHAPE.fullmatch(_nfkc(value, "id_number").strip())
    if match is None:
        raise InvalidIdentifier("id_number: must be 17 digits followed by a check character")
    first17, check = match.group(1), match.group(2).upper()
    region = first17[:6]
    # Region: the first two digits name a province (so the first is never 0).
    if not _PROVINCE.fullmatch(region[:2]):
        raise InvalidIdentifier("id_number: region code is not valid")
    try:
        born = date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        raise InvalidIdentifier("id_number: birth date is not a real date") from None
    if born > today:
        raise InvalidIdentifier("id_number: birth date is in the future")
    if born < _EARLIEST_BIRTH:
        raise InvalidIdentifier("id_number: birth date is before 1900")
    if _id_check(first17) != check:
        raise InvalidIdentifier("id_number: check character does not match")
    sex: Sex = "male" if int(first17[14:17]) % 2 else "female"
    return IdNumber(value=first17 + check, region_code=region, birth_date=born, sex=sex)


# --- GB 32100-2015: unified social credit code ------------------------------------

_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_VALUES = {c: i for i, c in enumerate(_USCC_CHARSET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_C = "[0-9A-HJ-NP-RTUW-Y]"  # the charset as a regex class
# 1 registration authority, 2 organisation type, 3-8 region digits, 9-17 organisation code.
# Authority and type are only checked against the charset: the table of assigned codes
# grows, and refusing a real employer's code would block a registration.
_USCC_FIRST17 = re.compile(rf"{_C}{{2}}[0-9]{{6}}{_C}{{9}}")


def _uscc_check(first17: str) -> str:
    total = sum(_USCC_VALUES[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARSET[(31 - total % 31) % 31]


def uscc_check_char(first17: str) -> str:
    """The check character for the first 17 (upper-case) characters of a credit code."""
    if not isinstance(first17, str) or not _USCC_FIRST17.fullmatch(first17):
        raise InvalidIdentifier("uscc: expected 17 characters of the code alphabet")
    return _uscc_check(first17)


def parse_uscc(value: str) -> str:
    """Validate a unified social credit code; returns it upper-case."""
    code = _nfkc(value, "uscc").strip()
    # ASCII before upper(): some non-ASCII letters upper-case into ASCII ones.
    if not code.isascii() or len(code) != 18:
        raise InvalidIdentifier("uscc: must be 18 characters")
    code = code.upper()
    if not _USCC_FIRST17.fullmatch(code[:17]) or code[17] not in _USCC_VALUES:
        raise InvalidIdentifier("uscc: contains a character outside the code alphabet")
    if _uscc_check(code[:17]) != code[17]:
        raise InvalidIdentifier("uscc: check character does not match")
    return code


# --- Phone ---------------------------------------------------------------------------

_PHONE_NOISE = re.compile(r"[\s\-()]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def normalise_phone(value: str) -> str:
    """A mainland mobile number as 11 digits (`1[3-9]` + 9 digits)."""
    phone = _PHONE_NOISE.sub("", _nfkc(value, "phone"))
    for prefix in ("+86", "0086", "86"):
        # Only a prefix followed by exactly 11 characters is a country code; otherwise
        # "86..." could be part of a (refused) landline number.
        if phone.startswith(prefix) and len(phone) == len(prefix) + 11:
            phone = phone[len(prefix) :]
            break
    if not _MOBILE.fullmatch(phone):
        raise InvalidIdentifier("phone: not a mainland mobile number")
    return phone


# --- Names ---------------------------------------------------------------------------

_MAX_NAME = 100
_ALLOWED_CONTROLS = frozenset("\t\n\r")  # folded into single spaces below
# Invisible format characters (Unicode category Cf: bidirectional overrides, zero-width
# spaces and joiners, soft hyphens, BOM) make a name display differently from what is
# stored, or two equal-looking names index apart; NFKC keeps them, so they are refused.
_INVISIBLE = "Cf"


def normalise_name(value: str) -> str:
    """The blind-index form of a name: NFKC with all whitespace removed (PRIVACY.md)."""
    joined = "".join(_nfkc(value, "name").split())
    # Removing whitespace can bring composable characters together, so normalise again;
    # this keeps the function idempotent, which a blind index relies on.
    return unicodedata.normalize("NFKC", joined)


def normalise_address(value: str) -> str:
    """The blind-index form of an address: NFKC with all whitespace removed (PRIVACY.md).
    Normalised again after the join so the function is idempotent, as an index needs."""
    joined = "".join(unicodedata.normalize("NFKC", value).split())
    return unicodedata.normalize("NFKC", joined)


def name_key(name: str, birth_date: date) -> str:
    """The `name_birth` blind-index value: the normalised name and the ISO birth date."""
    return f"{normalise_name(name)}|{birth_date.isoformat()}"


def display_name(value: str, *, max_length: int = _MAX_NAME) -> str:
    """A name as stored and shown: NFKC, internal whitespace collapsed, trimmed (a person's
    at most 100 characters; an employer's, which may be a sole trader's name, longer)."""
    text = _nfkc(value, "name")
    for char in text:
        category = unicodedata.category(char)
        if category == _INVISIBLE or (category == "Cc" and char not in _ALLOWED_CONTROLS):
            raise InvalidIdentifier("name: contains a control character")
    name = " ".join(text.split())
    if not name:
        raise InvalidIdentifier("name: must not be empty")
    if len(name) > max_length:
        raise InvalidIdentifier(f"name: longer than {max_length} characters")
    return name
