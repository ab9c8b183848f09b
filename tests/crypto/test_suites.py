from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag

from registry.crypto.suites import NONCE_LENGTH, TAG_LENGTH, Suite


def test_values_ids_and_lengths_are_stable() -> None:
    # Stored data depends on these; changing one is a format break.
    assert [(s.value, s.suite_id, s.key_length) for s in Suite] == [
        ("aes256gcm", 1, 32),
        ("sm4gcm", 2, 16),
    ]
    assert Suite("sm4gcm") is Suite.SM4GCM


@pytest.mark.parametrize("suite", list(Suite))
def test_from_id_round_trips(suite: Suite) -> None:
    assert Suite.from_id(suite.suite_id) is suite


@pytest.mark.parametrize("suite_id", [0, 3, 255])
def test_from_id_rejects_unknown(suite_id: int) -> None:
    with pytest.raises(ValueError, match="unknown cipher suite id"):
        Suite.from_id(suite_id)


def test_hashes_and_macs_follow_the_suite() -> None:
    assert Suite.AES256GCM.hash_algorithm().name == "sha256"
    assert Suite.SM4GCM.hash_algorithm().name == "sm3"
    key = os.urandom(32)
    sha, sm3 = Suite.AES256GCM.mac(key, b"x"), Suite.SM4GCM.mac(key, b"x")
    assert len(sha) == len(sm3) == 32
    assert sha != sm3
    assert Suite.AES256GCM.mac(key, b"x") == sha


@pytest.mark.parametrize("suite", list(Suite))
def test_seal_open_round_trip_and_tag(suite: Suite) -> None:
    key, nonce = os.urandom(suite.key_length), os.urandom(NONCE_LENGTH)
    sealed = suite.seal(key, nonce, b"plaintext", b"ad")
    assert len(sealed) == len(b"plaintext") + TAG_LENGTH
    assert suite.open(key, nonce, sealed, b"ad") == b"plaintext"
    with pytest.raises(InvalidTag):
        suite.open(key, nonce, sealed, b"other ad")
    with pytest.raises(InvalidTag):
        suite.open(key, nonce, sealed[: TAG_LENGTH - 1], b"ad")


def test_sm4_and_aes_are_not_interchangeable() -> None:
    key, nonce = os.urandom(32), os.urandom(NONCE_LENGTH)
    sealed = Suite.SM4GCM.seal(key[:16], nonce, b"p", b"")
    with pytest.raises(InvalidTag):
        Suite.SM4GCM.open(os.urandom(16), nonce, sealed, b"")
    assert Suite.AES256GCM.seal(key, nonce, b"p", b"") != sealed


@pytest.mark.parametrize("suite", list(Suite))
def test_wrong_key_or_nonce_length_is_a_programming_error(suite: Suite) -> None:
    nonce = os.urandom(NONCE_LENGTH)
    other_length = 24 if suite is Suite.AES256GCM else 32
    with pytest.raises(ValueError, match="-byte key"):
        suite.seal(os.urandom(other_length), nonce, b"", b"")
    with pytest.raises(ValueError, match="nonce"):
        suite.open(os.urandom(suite.key_length), nonce[:8], b"x" * 16, b"")
