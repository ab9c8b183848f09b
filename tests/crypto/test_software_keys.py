"""The shared in-memory core of the file and env providers."""

from __future__ import annotations

import os
import pickle

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.providers.software import KeySet, SoftwareProvider, self_test
from registry.crypto.providers.wrapped import MAX_KEK_VERSION
from registry.errors import ConfigurationError, Unavailable
from tests.crypto.conftest import assert_hidden


def test_keyset_round_trips_through_json() -> None:
    keys = KeySet.generate().with_new_kek()
    again = KeySet.from_json(keys.to_json(), source="test")
    assert again.versions == (1, 2) and again.current == 2
    assert again.current_kek == keys.current_kek
    assert again.kek(1) == keys.kek(1) and again.kek(3) is None
    assert again.signing_seed == keys.signing_seed


def test_keyset_current_must_exist() -> None:
    with pytest.raises(ValueError, match="current KEK"):
        KeySet({1: os.urandom(32)}, current=2, signing_seed=os.urandom(32))


def test_keyset_version_space_is_bounded() -> None:
    keys = KeySet({MAX_KEK_VERSION: os.urandom(32)}, current=MAX_KEK_VERSION, signing_seed=os.urandom(32))
    with pytest.raises(ConfigurationError, match="exhausted"):
        keys.with_new_kek()


def test_keyset_hides_and_refuses_pickling() -> None:
    keys = KeySet.generate()
    assert repr(keys) == "KeySet(current=1, versions=[1])"
    assert_hidden(repr(keys), keys.current_kek, keys.signing_seed)
    with pytest.raises(TypeError):
        pickle.dumps(keys)


def test_base_class_does_not_rotate() -> None:
    with pytest.raises(NotImplementedError):
        SoftwareProvider(KeySet.generate()).rotate_kek()


class BrokenProvider:
    """A provider whose unwrap or signature is wrong, to exercise the self-test."""

    name = "broken"

    def __init__(self, *, unwrap_fails: bool = False, unwrap_lies: bool = False, bad_signer: bool = False) -> None:
        self._unwrap_fails, self._unwrap_lies = unwrap_fails, unwrap_lies
        self._signer = Ed25519PrivateKey.generate()
        self._public = (Ed25519PrivateKey.generate() if bad_signer else self._signer).public_key()

    kek_version = 1
    key_hash = b"\x00" * 4
    key_id = "00000000"

    def wrap(self, key: bytes, *, aad: bytes) -> bytes:
        return key

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        if self._unwrap_fails:
            raise DecryptionError
        return b"other" if self._unwrap_lies else wrapped

    def rotate_kek(self) -> int:
        return 1

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def check(self) -> None:
        self_test(self)


@pytest.mark.parametrize("fault", ["unwrap_fails", "unwrap_lies", "bad_signer"])
def test_self_test_reports_unavailable(fault: str) -> None:
    with pytest.raises(Unavailable, match="key provider broken failed its self-test"):
        BrokenProvider(**{fault: True}).check()


def test_self_test_passes_on_a_working_provider() -> None:
    BrokenProvider().check()
