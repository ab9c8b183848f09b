"""Field ciphertext format and the only way to produce or open one.

    version(1) ‖ suite id(1) ‖ key version(4, big-endian) ‖ nonce(12) ‖ ciphertext ‖ tag(16)

The AEAD associated data is `header ‖ Aad.encode()`, so a blob moved to another table,
column, row or key version, or re-labelled with another suite or version, does not
authenticate. Every failure is one `DecryptionError` with a fixed message, so neither
the API nor a log line can become an oracle on why a blob was rejected.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn

from cryptography.exceptions import InvalidTag

from registry.crypto.suites import NONCE_LENGTH, TAG_LENGTH, Suite

FORMAT_VERSION = 1
_HEADER = struct.Struct(">BBI")  # format version, suite id, key version
HEADER_LENGTH = _HEADER.size
MIN_BLOB_LENGTH = HEADER_LENGTH + NONCE_LENGTH + TAG_LENGTH
MAX_KEY_VERSION = 2**32 - 1
_SUITE_IDS = frozenset(suite.suite_id for suite in Suite)


class DecryptionError(Exception):
    """A ciphertext did not decrypt and authenticate. The reason is deliberately hidden."""

    _MESSAGE = "ciphertext failed to decrypt or authenticate"

    def __init__(self) -> None:
        super().__init__(self._MESSAGE)

    def __reduce__(self) -> tuple[type[DecryptionError], tuple[()]]:
        # The no-argument constructor would otherwise break pickling across processes.
        return (type(self), ())


@dataclass(frozen=True)
class Aad:
    """Where a ciphertext belongs. Bound into the tag; never stored in the blob."""

    table: str
    column: str
    record_id: str
    key_version: int

    def __post_init__(self) -> None:
        # An empty field would bind nothing (e.g. a forgotten record id lets a blob
        # move between rows), so it is a programming error, not a valid context.
        for name in ("table", "column", "record_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Aad.{name} must be a non-empty string")
        _check_key_version(self.key_version, "Aad.key_version")

    def encode(self) -> bytes:
        """Canonical bytes: each text field length-prefixed (4 bytes), then the version.

        Length prefixes make the encoding injective: ("ab", "c") and ("a", "bc") differ.
        """
        return _place(self.table, self.column) + _prefixed(self.record_id) + _U32.pack(self.key_version)


_U32 = struct.Struct(">I")


def _prefixed(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _U32.pack(len(raw)) + raw


@lru_cache(maxsize=256)
def _place(table: str, column: str) -> bytes:
    # The (table, column) part of every AAD, of which a schema has a few dozen: built once.
    return b"registry-aad-v1" + _prefixed(table) + _prefixed(column)


class DataKey:
    """A data-encryption key (DEK). The key bytes never appear in repr, str or pickles."""

    __slots__ = ("_compartment", "_owner", "_secret", "_suite", "_version")

    def __init__(
        self,
        secret: bytes,
        *,
        suite: Suite,
        version: int,
        owner: str | None = None,
        compartment: str | None = None,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) != suite.key_length:
            raise ValueError(f"{suite.value} data keys are {suite.key_length} bytes")
        _check_key_version(version, "DataKey.version")
        self._secret = secret
        self._suite = suite
        self._version = version
        self._owner = owner
        self._compartment = compartment

    @classmethod
    def generate(
        cls,
        suite: Suite,
        *,
        version: int,
        owner: str | None = None,
        compartment: str | None = None,
    ) -> DataKey:
        """A fresh random key from the OS CSPRNG."""
        return cls(
            os.urandom(suite.key_length),
            suite=suite,
            version=version,
            owner=owner,
            compartment=compartment,
        )

    # Read-only: a key whose version or suite changed after wrapping would write
    # headers that no longer match the stored key.
    @property
    def suite(self) -> Suite:
        return self._suite

    @property
    def version(self) -> int:
        return self._version

    @property
    def owner(self) -> str | None:
        """Opaque id of the person the key belongs to, if it is a per-person DEK."""
        return self._owner

    @property
    def compartment(self) -> str | None:
        """`identity`, `residence`, `casefile`, ... if it is a per-person DEK."""
        return self._compartment

    def get_secret_value(self) -> bytes:
        """The raw key, for wrapping by a key provider only. Never log or store it."""
        return self._secret

    def __repr__(self) -> str:
        return f"DataKey(suite={self._suite.value!r}, version={self._version})"

    def __reduce__(self) -> NoReturn:
        # Pickling would copy key bytes into caches, queues or crash dumps.
        raise TypeError("DataKey cannot be pickled")


def encrypt(key: DataKey, plaintext: bytes, *, aad: Aad) -> bytes:
    """Encrypt `plaintext` for the place described by `aad` under `key`."""
    if aad.key_version != key.version:
        # A blob whose header and AAD disagree could never be decrypted: fail at write.
        raise ValueError("aad.key_version must equal the data key's version")
    header = _HEADER.pack(FORMAT_VERSION, key.suite.suite_id, key.version)
    nonce = os.urandom(NONCE_LENGTH)
    sealed = key.suite.seal(key.get_secret_value(), nonce, plaintext, header + aad.encode())
    return header + nonce + sealed


def decrypt(key: DataKey, blob: bytes, *, aad: Aad) -> bytes:
    """Decrypt a blob written by `encrypt` for the same `aad`; else `DecryptionError`."""
    data = _as_bytes(blob)
    version, suite_id, key_version = _HEADER.unpack_from(data)
    if version != FORMAT_VERSION or suite_id != key.suite.suite_id or not key_version == key.version == aad.key_version:
        raise DecryptionError
    header = data[:HEADER_LENGTH]
    nonce = data[HEADER_LENGTH : HEADER_LENGTH + NONCE_LENGTH]
    sealed = data[HEADER_LENGTH + NONCE_LENGTH :]
    try:
        return key.suite.open(key.get_secret_value(), nonce, sealed, header + aad.encode())
    except InvalidTag:
        pass
    # Raised outside the `except` so no library exception is chained onto ours.
    raise DecryptionError


def header_key_version(blob: bytes) -> int:
    """The DEK version a blob was written with, so the reader can fetch that key.

    Only the header is checked; authenticity is established by `decrypt`.
    """
    version, suite_id, key_version = _HEADER.unpack_from(_as_bytes(blob))
    if version != FORMAT_VERSION or suite_id not in _SUITE_IDS:
        raise DecryptionError
    return int(key_version)


def _as_bytes(blob: bytes) -> bytes:
    # Drivers may hand back memoryview (psycopg) or bytearray; anything else, or a
    # blob too short to hold header, nonce and tag, is malformed.
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError
    data = bytes(blob)
    if len(data) < MIN_BLOB_LENGTH:
        raise DecryptionError
    return data


def _check_key_version(value: object, name: str) -> None:
    # The header stores the version in 4 bytes; bool is an int but never a version.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if not 0 <= value <= MAX_KEY_VERSION:
        raise ValueError(f"{name} must fit in 4 bytes")
