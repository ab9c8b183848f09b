"""The key-provider contract: where the KEK and the audit signing key live.

A provider wraps data keys (DEKs, index root keys) under its current KEK version and
unwraps them under any version it still holds, so KEK rotation can rewrap in the
background. It also signs audit checkpoints with Ed25519, and may hold the permit
credential's issuing keys. Implementations: `file`,
`env`, `pkcs11`; callers depend only on this Protocol.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# Signature-type byte for Ed25519 in C2SP signed notes.
_NOTE_ALG_ED25519 = b"\x01"


@runtime_checkable
class KeyProvider(Protocol):
    name: str  # "file" | "env" | "pkcs11"

    @property
    def kek_version(self) -> int:
        """The KEK version `wrap` uses now."""
        ...

    def wrap(self, key: bytes, *, aad: bytes) -> bytes:
        """AES-256-GCM-wrap `key` under the current KEK; the output names the version."""
        ...

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        """Unwrap under whichever retained KEK version wrapped it; else DecryptionError."""
        ...

    def rotate_kek(self) -> int:
        """Create a new current KEK version, keep the old ones; return the new version."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes) over `message`."""
        ...

    def public_key(self) -> Ed25519PublicKey:
        """The verification key for `sign`."""
        ...

    @property
    def key_hash(self) -> bytes:
        """First 4 bytes of SHA-256 of the raw 32-byte public key: a stable key id."""
        ...

    @property
    def key_id(self) -> str:
        """`key_hash` as 8 lower-case hex digits."""
        ...

    def check(self) -> None:
        """For /readyz: return if wrap, unwrap and sign work; raise `Unavailable` if not."""
        ...

    # Issuing keys (the permit credential's): Ed25519 pairs a provider with a key store
    # of its own (PKCS#11) makes and keeps inside it, one per label. A provider without
    # one (file, env) answers None, and the caller wraps a software key under the KEK.

    def create_issuing_key(self, label: str) -> Ed25519PublicKey | None:
        """Make an issuing key pair labelled `label` in the provider; its public key, or
        None when this provider keeps no keys of its own."""
        ...

    def issuing_public_key(self, label: str) -> Ed25519PublicKey | None:
        """The public key of the issuing key labelled `label`, if the provider holds it."""
        ...

    def sign_issuing(self, label: str, message: bytes) -> bytes:
        """Ed25519 signature with the issuing key labelled `label`; `Unavailable` if the
        provider cannot reach it, `DecryptionError` if it holds no such key."""
        ...


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_hash(public_key: Ed25519PublicKey) -> bytes:
    """SHA-256(raw public key)[:4] — what `KeyProvider.key_hash` returns."""
    return hashlib.sha256(raw_public_key(public_key)).digest()[:4]


def signed_note_key_hash(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """The C2SP signed-note key hash: SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4].

    Unlike `key_hash` it depends on the key name (the checkpoint origin), which only the
    audit package knows; checkpoint signature lines must use this one.
    """
    material = key_name.encode("utf-8") + b"\n" + _NOTE_ALG_ED25519
    return hashlib.sha256(material + raw_public_key(public_key)).digest()[:4]
