"""Byte layout of a wrapped key, shared by every provider.

    format(1) ‖ KEK version(4, big-endian) ‖ nonce(12) ‖ AES-256-GCM(key) ‖ tag(16)

The first 5 bytes are also prepended to the caller's AAD, so relabelling a wrapped key
with another KEK version fails authentication instead of trying the wrong key quietly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.suites import NONCE_LENGTH, TAG_LENGTH

WRAP_FORMAT = 1
KEK_LENGTH = 32  # KEKs are always AES-256, whatever the data suite
_HEADER = struct.Struct(">BI")
MAX_KEK_VERSION = 2**32 - 1


@dataclass(frozen=True)
class WrappedKey:
    kek_version: int
    nonce: bytes
    sealed: bytes  # ciphertext ‖ tag

    @property
    def header(self) -> bytes:
        return _HEADER.pack(WRAP_FORMAT, self.kek_version)

    def associated_data(self, aad: bytes) -> bytes:
        return self.header + aad

    def to_bytes(self) -> bytes:
        return self.header + self.nonce + self.sealed

    @classmethod
    def parse(cls, wrapped: bytes) -> WrappedKey:
        """Split a wrapped key; a malformed one is a `DecryptionError` like a bad tag."""
        if not isinstance(wrapped, bytes | bytearray | memoryview):
            raise DecryptionError
        data = bytes(wrapped)
        if len(data) < _HEADER.size + NONCE_LENGTH + TAG_LENGTH:
            raise DecryptionError
        fmt, kek_version = _HEADER.unpack_from(data)
        if fmt != WRAP_FORMAT:
            raise DecryptionError
        body = data[_HEADER.size :]
        return cls(int(kek_version), body[:NONCE_LENGTH], body[NONCE_LENGTH:])
