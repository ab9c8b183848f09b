"""KEKs and the signing key held in process memory: the shared core of `file` and `env`.

Both providers load the same JSON document (`KeySet`); they differ only in where it
lives and how rotation persists it.

    {"format": "registry-keys/1", "current_kek": 2,
     "keks": {"1": "<base64 32 bytes>", "2": "<base64 32 bytes>"},
     "signing_seed": "<base64 32-byte Ed25519 seed>"}
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import NoReturn

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.providers.base import KeyProvider, public_key_hash
from registry.crypto.providers.wrapped import KEK_LENGTH, MAX_KEK_VERSION, WrappedKey
from registry.crypto.suites import NONCE_LENGTH
from registry.errors import ConfigurationError, Unavailable

KEYSET_FORMAT = "registry-keys/1"
SEED_LENGTH = 32
_SELF_TEST_AAD = b"registry-provider-self-test"


class KeySet:
    """Immutable KEK versions plus the Ed25519 seed. Never shows key bytes."""

    __slots__ = ("_current", "_keks", "_seed")

    def __init__(self, keks: Mapping[int, bytes], *, current: int, signing_seed: bytes) -> None:
        if current not in keks:
            raise ValueError("the current KEK version must be in the set")
        self._keks = MappingProxyType(dict(keks))
        self._current = current
        self._seed = signing_seed

    @classmethod
    def generate(cls) -> KeySet:
        return cls({1: os.urandom(KEK_LENGTH)}, current=1, signing_seed=os.urandom(SEED_LENGTH))

    def with_new_kek(self) -> KeySet:
        """A copy with a fresh KEK as the new current version; old versions retained."""
        version = max(self._keks) + 1
        if version > MAX_KEK_VERSION:
            raise ConfigurationError("KEK version space exhausted")
        keks = {**self._keks, version: os.urandom(KEK_LENGTH)}
        return KeySet(keks, current=version, signing_seed=self._seed)

    @property
    def current(self) -> int:
        return self._current

    @property
    def current_kek(self) -> bytes:
        return self._keks[self._current]

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keks))

    def kek(self, version: int) -> bytes | None:
        return self._keks.get(version)

    @property
    def signing_seed(self) -> bytes:
        return self._seed

    def to_json(self) -> bytes:
        doc = {
            "format": KEYSET_FORMAT,
            "current_kek": self._current,
            "keks": {str(v): _b64(k) for v, k in sorted(self._keks.items())},
            "signing_seed": _b64(self._seed),
        }
        return json.dumps(doc, indent=2).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, raw: bytes, *, source: str) -> KeySet:
        """Parse and validate; `source` names the file or variable in error messages."""
        keyset = _parse_keyset(raw)
        # Raised outside any `except`: a chained JSONDecodeError would carry the
        # whole document, key bytes included, in its `doc` attribute.
        if isinstance(keyset, str):
            raise ConfigurationError(f"{source}: {keyset}")
        return keyset

    def __repr__(self) -> str:
        return f"KeySet(current={self._current}, versions={list(self.versions)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("KeySet cannot be pickled")


class SoftwareProvider:
    """Wrap, unwrap, sign and self-check with keys from a `KeySet` in memory."""

    name: str

    def __init__(self, keys: KeySet) -> None:
        self._set_keys(keys)

    def _set_keys(self, keys: KeySet) -> None:
        self._keys = keys
        self._signer = Ed25519PrivateKey.from_private_bytes(keys.signing_seed)
        self._public = self._signer.public_key()

    def _current_keys(self) -> KeySet:
        """Hook: the file provider reloads here when another process rotated."""
        return self._keys

    @property
    def kek_version(self) -> int:
        return self._current_keys().current

    def wrap(self, key: bytes, *, aad: bytes) -> bytes:
        keys = self._current_keys()
        kek = keys.current_kek
        nonce = os.urandom(NONCE_LENGTH)
        header = WrappedKey(keys.current, nonce, b"")
        sealed = AESGCM(kek).encrypt(nonce, key, header.associated_data(aad))
        return WrappedKey(keys.current, nonce, sealed).to_bytes()

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        parsed = WrappedKey.parse(wrapped)
        kek = self._current_keys().kek(parsed.kek_version)
        if kek is None:
            raise DecryptionError
        try:
            return AESGCM(kek).decrypt(parsed.nonce, parsed.sealed, parsed.associated_data(aad))
        except InvalidTag:
            pass
        raise DecryptionError

    def rotate_kek(self) -> int:
        raise NotImplementedError  # each subclass decides how rotation persists

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    @property
    def key_hash(self) -> bytes:
        return public_key_hash(self._public)

    @property
    def key_id(self) -> str:
        return self.key_hash.hex()

    def check(self) -> None:
        self_test(self)

    # No key store of its own: the issuing keys are software keys wrapped under the KEK.

    def create_issuing_key(self, label: str) -> Ed25519PublicKey | None:
        return None

    def issuing_public_key(self, label: str) -> Ed25519PublicKey | None:
        return None

    def sign_issuing(self, label: str, message: bytes) -> bytes:
        raise DecryptionError


def self_test(provider: KeyProvider) -> None:
    """Round-trip a random key and a signature; `Unavailable` if either fails."""
    probe = os.urandom(KEK_LENGTH)
    try:
        wrapped = provider.wrap(probe, aad=_SELF_TEST_AAD)
        ok = provider.unwrap(wrapped, aad=_SELF_TEST_AAD) == probe
        provider.public_key().verify(provider.sign(_SELF_TEST_AAD), _SELF_TEST_AAD)
    except (DecryptionError, InvalidSignature):
        ok = False
    if not ok:
        raise Unavailable(f"key provider {provider.name} failed its self-test")


def _parse_keyset(raw: bytes) -> KeySet | str:
    """The KeySet, or a message saying what is wrong (never quoting the content)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "not valid JSON"
    if not isinstance(doc, dict) or doc.get("format") != KEYSET_FORMAT:
        return f"not a key set (expected format {KEYSET_FORMAT!r})"
    keks_doc = doc.get("keks")
    if not isinstance(keks_doc, dict) or not keks_doc:
        return "no KEK versions"
    keks: dict[int, bytes] = {}
    for name, value in keks_doc.items():
        if not (isinstance(name, str) and name.isdigit() and 1 <= int(name) <= MAX_KEK_VERSION):
            return "KEK versions must be positive integers"
        kek = _unb64(value)
        if kek is None or len(kek) != KEK_LENGTH:
            return f"KEK version {int(name)} is not base64 of {KEK_LENGTH} bytes"
        keks[int(name)] = kek
    current = doc.get("current_kek")
    if isinstance(current, bool) or not isinstance(current, int) or current not in keks:
        return "current_kek does not name a KEK version in the set"
    seed = _unb64(doc.get("signing_seed"))
    if seed is None or len(seed) != SEED_LENGTH:
        return f"signing_seed is not base64 of {SEED_LENGTH} bytes"
    return KeySet(keks, current=current, signing_seed=seed)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
