"""Blind indexes: a keyed, truncated MAC of a normalised value for exact search.

Each (table, field, version) gets its own key derived from the index root key, so
equal values in two fields, tables or key versions give unrelated tokens and one
column's tokens cannot be joined against another's. Truncation makes tokens collide
on purpose (about `candidates_per_bucket` rows per token), which limits what a stolen
index reveals; the caller decrypts the candidates and re-checks them.

Normalisation (upper-case `X`, NFKC, digits only, ...) happens in the domain package;
this module MACs the string it is given.
"""

from __future__ import annotations

import math
from typing import NoReturn

from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from registry.crypto.suites import Suite

INDEX_KEY_LENGTH = 32
MIN_ROOT_KEY_LENGTH = 32
MAX_BITS = 8 * INDEX_KEY_LENGTH  # both HMAC-SHA256 and HMAC-SM3 give 256 bits
_INFO_PREFIX = b"registry-bidx|"


class IndexKey:
    """The MAC key for one (table, field, version). Key bytes never shown in repr."""

    __slots__ = ("_field", "_secret", "_suite", "_table", "_version")

    def __init__(self, secret: bytes, *, suite: Suite, table: str, field: str, version: int) -> None:
        self._secret = secret
        self._suite = suite
        self._table = table
        self._field = field
        self._version = version

    @classmethod
    def derive(cls, root_key: bytes, *, suite: Suite, table: str, field: str, version: int) -> IndexKey:
        """HKDF(suite hash, root key, info = "registry-bidx|table|field|version")."""
        if len(root_key) < MIN_ROOT_KEY_LENGTH:
            raise ValueError(f"index root key must be at least {MIN_ROOT_KEY_LENGTH} bytes")
        for name, value in (("table", table), ("field", field)):
            # "|" separates the info fields; allowing it would let ("a|b", "c") and
            # ("a", "b|c") derive the same key.
            if not value or "|" in value:
                raise ValueError(f"{name} must be non-empty and must not contain '|'")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError("version must be a non-negative int")
        info = _INFO_PREFIX + f"{table}|{field}|{version}".encode()
        hkdf = HKDF(
            algorithm=suite.hash_algorithm(),
            length=INDEX_KEY_LENGTH,
            salt=None,
            info=info,
        )
        return cls(
            hkdf.derive(root_key),
            suite=suite,
            table=table,
            field=field,
            version=version,
        )

    @property
    def suite(self) -> Suite:
        return self._suite

    @property
    def table(self) -> str:
        return self._table

    @property
    def field(self) -> str:
        return self._field

    @property
    def version(self) -> int:
        return self._version

    def mac(self, data: bytes) -> bytes:
        return self._suite.mac(self._secret, data)

    def __repr__(self) -> str:
        return (
            f"IndexKey(suite={self._suite.value!r}, table={self._table!r}, "
            f"field={self._field!r}, version={self._version})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("IndexKey cannot be pickled")


def token(key: IndexKey, normalised_value: str, *, bits: int) -> bytes:
    """MAC of the value, cut to `bits`: ceil(bits/8) bytes, spare low bits zeroed.

    Zeroing the spare bits keeps tokens of the same width comparable byte for byte.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be between 1 and {MAX_BITS}")
    digest = key.mac(normalised_value.encode("utf-8"))
    length = math.ceil(bits / 8)
    out = bytearray(digest[:length])
    spare = 8 * length - bits
    out[-1] &= (0xFF << spare) & 0xFF
    return bytes(out)


def default_bits(expected_rows: int = 10_000_000, candidates_per_bucket: int = 2) -> int:
    """Bits so that about `candidates_per_bucket` rows share a token: ceil(log2(rows/c)).

    10 million rows at 2 per bucket gives 23 bits. Integer arithmetic, so exact powers
    of two do not round up through floating-point error.
    """
    if expected_rows < 1 or candidates_per_bucket < 1:
        raise ValueError("expected_rows and candidates_per_bucket must be positive")
    buckets = -(-expected_rows // candidates_per_bucket)  # ceil division
    return max(1, (buckets - 1).bit_length())
