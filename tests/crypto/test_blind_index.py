from __future__ import annotations

import os
import pickle

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from registry.crypto.blind_index import MAX_BITS, IndexKey, default_bits, token
from registry.crypto.suites import Suite
from tests.crypto.conftest import assert_hidden

ROOT = bytes(range(32))
suites = pytest.mark.parametrize("suite", list(Suite))


def key(suite: Suite = Suite.AES256GCM, table: str = "person", field: str = "id_number", version: int = 1) -> IndexKey:
    return IndexKey.derive(ROOT, suite=suite, table=table, field=field, version=version)


def derived_sha256(info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, info).derive(ROOT)


@suites
def test_deterministic(suite: Suite) -> None:
    assert token(key(suite), "11010519491231002X", bits=23) == token(key(suite), "11010519491231002X", bits=23)
    assert token(key(suite), "a", bits=64) != token(key(suite), "b", bits=64)


@suites
@pytest.mark.parametrize(
    "other",
    [
        {"table": "permit"},
        {"field": "phone"},
        {"version": 2},
    ],
    ids=["table", "field", "version"],
)
def test_differs_per_table_field_version(suite: Suite, other: dict[str, object]) -> None:
    value = "13800138000"
    assert token(key(suite), value, bits=128) != token(key(suite, **other), value, bits=128)  # type: ignore[arg-type]


def test_differs_per_suite_and_root() -> None:
    value = "13800138000"
    assert token(key(Suite.AES256GCM), value, bits=128) != token(key(Suite.SM4GCM), value, bits=128)
    other_root = IndexKey.derive(os.urandom(32), suite=Suite.AES256GCM, table="person", field="id_number", version=1)
    assert token(other_root, value, bits=128) != token(key(), value, bits=128)


def test_full_width_is_the_hmac_of_the_hkdf_key() -> None:
    # Pin the construction: HKDF-SHA256(root, info) then HMAC-SHA256 of the UTF-8 value.
    mac = hmac.HMAC(derived_sha256(b"registry-bidx|person|id_number|1"), hashes.SHA256())
    mac.update("张三".encode())
    assert token(key(), "张三", bits=256) == mac.finalize()


@suites
@given(bits=st.integers(min_value=1, max_value=MAX_BITS), value=st.text(max_size=20))
def test_truncation_respects_bits(suite: Suite, bits: int, value: str) -> None:
    full = token(key(suite), value, bits=MAX_BITS)
    short = token(key(suite), value, bits=bits)
    assert len(short) == (bits + 7) // 8
    as_int = int.from_bytes(short, "big")
    spare = len(short) * 8 - bits
    assert as_int & ((1 << spare) - 1) == 0  # spare low bits are zero
    # and the kept bits are a prefix of the full MAC
    assert as_int >> spare == int.from_bytes(full, "big") >> (MAX_BITS - bits)


@pytest.mark.parametrize("bits", [0, -1, MAX_BITS + 1, True, 8.0])
def test_bits_out_of_range(bits: object) -> None:
    with pytest.raises(ValueError, match="bits"):
        token(key(), "x", bits=bits)  # type: ignore[arg-type]


def test_default_bits() -> None:
    assert default_bits() == 23  # ceil(log2(10_000_000 / 2)) = ceil(22.25)
    assert default_bits(1024, 1) == 10  # exact power of two: no rounding up
    assert default_bits(1025, 1) == 11
    assert default_bits(10, 3) == 2  # ceil(10/3)=4 buckets
    assert default_bits(1, 1) == 1  # never a zero-bit index
    with pytest.raises(ValueError):
        default_bits(0, 2)
    with pytest.raises(ValueError):
        default_bits(10, 0)


def test_derive_validation() -> None:
    with pytest.raises(ValueError, match="root key"):
        IndexKey.derive(bytes(31), suite=Suite.AES256GCM, table="t", field="f", version=1)
    for table, field in (("", "f"), ("t", ""), ("a|b", "c"), ("a", "b|c")):
        with pytest.raises(ValueError, match="'|'"):
            IndexKey.derive(ROOT, suite=Suite.AES256GCM, table=table, field=field, version=1)
    for version in (-1, True, "1"):
        with pytest.raises(ValueError, match="version"):
            IndexKey.derive(ROOT, suite=Suite.AES256GCM, table="t", field="f", version=version)  # type: ignore[arg-type]


def test_index_key_hides_its_bytes() -> None:
    k = key(Suite.SM4GCM, version=3)
    assert repr(k) == "IndexKey(suite='sm4gcm', table='person', field='id_number', version=3)"
    assert (k.suite, k.table, k.field, k.version) == (Suite.SM4GCM, "person", "id_number", 3)
    derived = HKDF(hashes.SM3(), 32, None, b"registry-bidx|person|id_number|3").derive(ROOT)
    assert k.mac(b"v") == Suite.SM4GCM.mac(derived, b"v")
    assert_hidden(repr(k), derived, ROOT)
    with pytest.raises(TypeError):
        pickle.dumps(k)
