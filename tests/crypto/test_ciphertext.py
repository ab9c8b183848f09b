from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.crypto.ciphertext import (
    FORMAT_VERSION,
    HEADER_LENGTH,
    MIN_BLOB_LENGTH,
    Aad,
    DataKey,
    DecryptionError,
    decrypt,
    encrypt,
    header_key_version,
)
from registry.crypto.suites import NONCE_LENGTH, TAG_LENGTH, Suite
from tests.crypto.conftest import assert_hidden

SUITES = list(Suite)
suites = pytest.mark.parametrize("suite", SUITES)

AAD = Aad(table="person", column="name_ct", record_id="p-0001", key_version=7)


def key_for(suite: Suite, version: int = 7) -> DataKey:
    return DataKey.generate(suite, version=version, owner="p-0001", compartment="identity")


def flip(blob: bytes, bit: int) -> bytes:
    out = bytearray(blob)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- round trip and layout ---------------------------------------------------------


@suites
@pytest.mark.parametrize("plaintext", [b"", b"Zhang San", "张三".encode(), bytes(range(256)) * 4])
def test_round_trip(suite: Suite, plaintext: bytes) -> None:
    key = key_for(suite)
    blob = encrypt(key, plaintext, aad=AAD)
    assert decrypt(key, blob, aad=AAD) == plaintext


@suites
def test_layout(suite: Suite) -> None:
    key = key_for(suite, version=0x01020304)
    aad = dataclasses.replace(AAD, key_version=0x01020304)
    blob = encrypt(key, b"abc", aad=aad)
    assert blob[0] == FORMAT_VERSION
    assert blob[1] == suite.suite_id
    assert blob[2:6] == bytes([1, 2, 3, 4])
    assert len(blob) == HEADER_LENGTH + NONCE_LENGTH + 3 + TAG_LENGTH
    assert header_key_version(blob) == 0x01020304


@suites
def test_nonces_are_fresh(suite: Suite) -> None:
    key = key_for(suite)
    a, b = encrypt(key, b"same", aad=AAD), encrypt(key, b"same", aad=AAD)
    assert a[HEADER_LENGTH : HEADER_LENGTH + NONCE_LENGTH] != b[HEADER_LENGTH : HEADER_LENGTH + NONCE_LENGTH]
    assert a != b


@suites
def test_accepts_memoryview_and_bytearray(suite: Suite) -> None:
    # Database drivers hand back either.
    key = key_for(suite)
    blob = encrypt(key, b"x", aad=AAD)
    assert decrypt(key, memoryview(blob), aad=AAD) == b"x"  # type: ignore[arg-type]
    assert decrypt(key, bytearray(blob), aad=AAD) == b"x"  # type: ignore[arg-type]
    assert header_key_version(memoryview(blob)) == 7  # type: ignore[arg-type]


# --- every kind of failure is one DecryptionError ---------------------------------


@suites
@pytest.mark.parametrize(
    "change",
    [
        {"table": "dwelling"},
        {"column": "phone_ct"},
        {"record_id": "p-0002"},
        {"key_version": 8},
    ],
    ids=["table", "column", "record_id", "key_version"],
)
def test_wrong_aad_field_fails(suite: Suite, change: dict[str, object]) -> None:
    key = key_for(suite)
    blob = encrypt(key, b"secret", aad=AAD)
    with pytest.raises(DecryptionError):
        decrypt(key, blob, aad=dataclasses.replace(AAD, **change))


@suites
def test_key_version_bound_in_the_tag_not_only_the_header(suite: Suite) -> None:
    # Same key bytes relabelled as version 8, blob header and AAD rewritten to match:
    # the tag still binds the original header and AAD.
    key = key_for(suite)
    blob = encrypt(key, b"secret", aad=AAD)
    relabelled_key = DataKey(key.get_secret_value(), suite=suite, version=8)
    relabelled_blob = blob[:2] + (8).to_bytes(4, "big") + blob[6:]
    with pytest.raises(DecryptionError):
        decrypt(relabelled_key, relabelled_blob, aad=dataclasses.replace(AAD, key_version=8))


@suites
def test_aad_and_key_version_must_agree_on_decrypt(suite: Suite) -> None:
    key = key_for(suite)
    blob = encrypt(key, b"secret", aad=AAD)
    other_version_key = DataKey(key.get_secret_value(), suite=suite, version=8)
    with pytest.raises(DecryptionError):
        decrypt(other_version_key, blob, aad=AAD)


@suites
@given(data=st.data())
def test_any_flipped_bit_fails(suite: Suite, data: st.DataObject) -> None:
    key = key_for(suite)
    blob = encrypt(key, b"a field value", aad=AAD)
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1), label="bit")
    with pytest.raises(DecryptionError):
        decrypt(key, flip(blob, bit), aad=AAD)


@suites
def test_ciphertext_swapped_between_rows_fails(suite: Suite) -> None:
    key = key_for(suite)
    row_a = dataclasses.replace(AAD, record_id="p-0001")
    row_b = dataclasses.replace(AAD, record_id="p-0002")
    blob_a = encrypt(key, b"Li Si", aad=row_a)
    blob_b = encrypt(key, b"Wang Wu", aad=row_b)
    with pytest.raises(DecryptionError):
        decrypt(key, blob_a, aad=row_b)
    with pytest.raises(DecryptionError):
        decrypt(key, blob_b, aad=row_a)


@suites
def test_ciphertext_swapped_between_columns_fails(suite: Suite) -> None:
    key = key_for(suite)
    name = dataclasses.replace(AAD, column="name_ct")
    phone = dataclasses.replace(AAD, column="phone_ct")
    blob = encrypt(key, b"13800000000", aad=phone)
    with pytest.raises(DecryptionError):
        decrypt(key, blob, aad=name)


@suites
@given(cut=st.integers(min_value=0, max_value=200))
def test_truncated_blob_fails(suite: Suite, cut: int) -> None:
    key = key_for(suite)
    blob = encrypt(key, b"x" * 40, aad=AAD)
    truncated = blob[: max(0, len(blob) - 1 - cut)]
    with pytest.raises(DecryptionError):
        decrypt(key, truncated, aad=AAD)


@suites
def test_extended_blob_fails(suite: Suite) -> None:
    key = key_for(suite)
    with pytest.raises(DecryptionError):
        decrypt(key, encrypt(key, b"x", aad=AAD) + b"\x00", aad=AAD)


@suites
def test_wrong_key_fails(suite: Suite) -> None:
    blob = encrypt(key_for(suite), b"secret", aad=AAD)
    with pytest.raises(DecryptionError):
        decrypt(key_for(suite), blob, aad=AAD)


@suites
@pytest.mark.parametrize("version", [0, 2, 255])
def test_bad_header_version_fails(suite: Suite, version: int) -> None:
    key = key_for(suite)
    blob = encrypt(key, b"secret", aad=AAD)
    bad = bytes([version]) + blob[1:]
    with pytest.raises(DecryptionError):
        decrypt(key, bad, aad=AAD)
    with pytest.raises(DecryptionError):
        header_key_version(bad)


def test_other_suite_key_fails() -> None:
    aes, sm4 = key_for(Suite.AES256GCM), key_for(Suite.SM4GCM)
    with pytest.raises(DecryptionError):
        decrypt(sm4, encrypt(aes, b"secret", aad=AAD), aad=AAD)
    with pytest.raises(DecryptionError):
        decrypt(aes, encrypt(sm4, b"secret", aad=AAD), aad=AAD)


@suites
def test_unknown_suite_id_in_header(suite: Suite) -> None:
    blob = encrypt(key_for(suite), b"secret", aad=AAD)
    with pytest.raises(DecryptionError):
        header_key_version(blob[:1] + b"\x09" + blob[2:])


@pytest.mark.parametrize("blob", [b"", b"\x01" * (MIN_BLOB_LENGTH - 1), "text", None, 42])
def test_malformed_input(blob: object) -> None:
    key = key_for(Suite.AES256GCM)
    with pytest.raises(DecryptionError):
        decrypt(key, blob, aad=AAD)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        header_key_version(blob)  # type: ignore[arg-type]


def test_decryption_error_says_nothing_and_pickles() -> None:
    errors = []
    key = key_for(Suite.AES256GCM)
    blob = encrypt(key, b"Zhang San", aad=AAD)
    for bad in (b"", flip(blob, 0), flip(blob, len(blob) * 8 - 1)):
        with pytest.raises(DecryptionError) as info:
            decrypt(key, bad, aad=AAD)
        errors.append(info.value)
    messages = {str(e) for e in errors}
    assert messages == {"ciphertext failed to decrypt or authenticate"}
    # No library exception chained: it could carry details of the failure.
    assert all(e.__cause__ is None and e.__context__ is None for e in errors)
    assert str(pickle.loads(pickle.dumps(errors[0]))) == str(errors[0])  # noqa: S301


# --- AAD ---------------------------------------------------------------------------


def test_aad_is_keyword_only_and_required() -> None:
    key = key_for(Suite.AES256GCM)
    with pytest.raises(TypeError):
        encrypt(key, b"x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        encrypt(key, b"x", AAD)  # type: ignore[misc]
    with pytest.raises(TypeError):
        decrypt(key, b"x")  # type: ignore[call-arg]


def test_encrypt_refuses_mismatched_key_version() -> None:
    with pytest.raises(ValueError, match="key_version"):
        encrypt(key_for(Suite.AES256GCM, version=1), b"x", aad=AAD)


def test_aad_encoding_is_unambiguous() -> None:
    a = Aad(table="ab", column="c", record_id="r", key_version=1)
    b = Aad(table="a", column="bc", record_id="r", key_version=1)
    c = Aad(table="a", column="b", record_id="cr", key_version=1)
    assert len({a.encode(), b.encode(), c.encode()}) == 3
    assert a.encode() == Aad("ab", "c", "r", 1).encode()


@pytest.mark.parametrize("field", ["table", "column", "record_id"])
def test_aad_text_fields_must_be_non_empty_strings(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(AAD, **{field: ""})
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(AAD, **{field: 5})


@pytest.mark.parametrize("version", [-1, 2**32])
def test_aad_key_version_must_fit_four_bytes(version: int) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        dataclasses.replace(AAD, key_version=version)


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_aad_key_version_must_be_an_int(version: object) -> None:
    with pytest.raises(TypeError):
        dataclasses.replace(AAD, key_version=version)


def test_aad_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        AAD.record_id = "other"  # type: ignore[misc]


# --- DataKey -------------------------------------------------------------------------


@suites
def test_data_key_hides_its_bytes(suite: Suite) -> None:
    key = key_for(suite, version=3)
    assert repr(key) == f"DataKey(suite={suite.value!r}, version=3)"
    assert str(key) == repr(key)
    assert_hidden(repr(key), key.get_secret_value())
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert not hasattr(key, "__dict__")


@suites
def test_data_key_attributes(suite: Suite) -> None:
    key = key_for(suite, version=3)
    assert (key.suite, key.version, key.owner, key.compartment) == (suite, 3, "p-0001", "identity")
    assert len(key.get_secret_value()) == suite.key_length
    with pytest.raises(AttributeError):
        key.version = 4  # type: ignore[misc]
    bare = DataKey(bytes(suite.key_length), suite=suite, version=0)
    assert bare.owner is None and bare.compartment is None


@suites
def test_data_key_length_must_match_suite(suite: Suite) -> None:
    with pytest.raises(ValueError, match="bytes"):
        DataKey(bytes(suite.key_length + 1), suite=suite, version=1)
    with pytest.raises(ValueError, match="bytes"):
        DataKey("x" * suite.key_length, suite=suite, version=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [-1, 2**32])
def test_data_key_version_must_fit(version: int) -> None:
    with pytest.raises(ValueError):
        DataKey(bytes(32), suite=Suite.AES256GCM, version=version)
