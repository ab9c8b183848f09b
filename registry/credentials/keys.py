"""The credential issuing keys: Ed25519 (EdDSA). With a PKCS#11 key provider the pair is made
in the token and never leaves it (the row keeps its label and public half); with the file
or env provider the service makes it and stores the private half only wrapped under the
KEK, so a copy of the database alone signs nothing, and KEK rotation rewraps it with the
data keys. One key is active; rotating (`registry keys rotate --target credential`)
retires it, and a retired key stays published until every credential it signed has
expired, so credentials already in holders' hands keep verifying."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlmodel import Session, col, select

from registry.credentials.models import CredentialKey
from registry.crypto.ciphertext import DecryptionError
from registry.crypto.keyring import Keyring
from registry.errors import IntegrityFailure

log = logging.getLogger("registry.credentials")
ACTIVE, RETIRED = "active", "retired"
Signer = Callable[[bytes], bytes]  # signing input → Ed25519 signature
LONGEST_LIFE = timedelta(days=366)  # no credential outlives this (a permit's year to its endorsement)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_of(public_raw: bytes) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(public_raw)}


def thumbprint(public_raw: bytes) -> str:
    """RFC 7638: SHA-256 of the JWK's required members in lexical order, no whitespace."""
    canonical = json.dumps(jwk_of(public_raw), sort_keys=True, separators=(",", ":")).encode("ascii")
    return b64url(hashlib.sha256(canonical).digest())


def _aad(kid: str, public_raw: bytes) -> bytes:
    # The public half is bound into the wrap: a row whose public key was swapped, or planted
    # by someone who can write the table but not use the KEK, never unwraps.
    return b"registry/credential-key/" + kid.encode("ascii") + b"/" + public_raw


def create(session: Session, keyring: Keyring, *, now: datetime) -> CredentialKey:
    """A new active key, in the provider's own key store when it has one; the one active
    before is retired (published on)."""
    for old in session.exec(select(CredentialKey).where(CredentialKey.status == ACTIVE)):
        old.status, old.retired_at = RETIRED, now
        session.add(old)
    provider = keyring.provider
    label = secrets.token_hex(8)
    held = provider.create_issuing_key(label)
    if held is not None:
        public_raw, wrapped, label_kept = held.public_bytes(Encoding.Raw, PublicFormat.Raw), None, label
    else:
        private = Ed25519PrivateKey.generate()
        raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        public_raw, label_kept = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), None
        wrapped = provider.wrap(raw_private, aad=_aad(thumbprint(public_raw), public_raw))
    row = CredentialKey(
        kid=thumbprint(public_raw),
        public_key=public_raw,
        wrapped=wrapped,
        provider_label=label_kept,
        kek_version=provider.kek_version,
        status=ACTIVE,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def active(session: Session, keyring: Keyring, *, now: datetime) -> tuple[CredentialKey, Signer]:
    """The signing key (made on first use), as a signer: the token's, or the private key
    unwrapped for this signature only."""
    row = session.exec(select(CredentialKey).where(CredentialKey.status == ACTIVE)).first()
    if row is None:
        row = create(session, keyring, now=now)
    signer = _authentic(keyring, row)
    if signer is None:
        raise IntegrityFailure("credential_key: the active issuing key is not the provider's")
    return row, signer


def _authentic(keyring: Keyring, row: CredentialKey) -> Signer | None:
    """The key's signer, when the row is what the service made: a token key under its label
    whose public half is the row's, or a wrapped key that unwraps under the KEK with its own
    public key and kid bound in, and whose private half matches that public key. A row
    that cannot even be asked about (a label or kid no key could have) is not the key."""
    try:
        return _signer_of(keyring, row)
    except (ValueError, UnicodeError):
        return None


def _signer_of(keyring: Keyring, row: CredentialKey) -> Signer | None:
    provider = keyring.provider
    if row.provider_label is not None:
        held = provider.issuing_public_key(row.provider_label)
        if held is None or held.public_bytes(Encoding.Raw, PublicFormat.Raw) != row.public_key:
            return None
        label = row.provider_label
        return None if thumbprint(row.public_key) != row.kid else (lambda m: provider.sign_issuing(label, m))
    if row.wrapped is None:
        return None
    try:
        raw = provider.unwrap(row.wrapped, aad=_aad(row.kid, row.public_key))
    except DecryptionError:
        return None
    private = Ed25519PrivateKey.from_private_bytes(raw)
    derived = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private.sign if derived == row.public_key and thumbprint(derived) == row.kid else None


# Rows already proven, by (kid, public key, wrapped bytes or label), with when: the public
# endpoint answers anyone, and with PKCS#11 each proof is a call into the token. A rewrap
# changes the bytes; a proof is asked again after PROOF_LIFETIME, so a key destroyed in the
# token leaves the published set within minutes (signing re-checks every time anyway).
_PROVEN: dict[tuple[str, bytes, bytes], tuple[bool, float]] = {}
PROOF_LIFETIME = 300.0  # seconds, monotonic


def _proven(keyring: Keyring, row: CredentialKey) -> bool:
    held = row.wrapped if row.wrapped is not None else (row.provider_label or "").encode("utf-8", "surrogatepass")
    key = (row.kid, row.public_key, hashlib.sha256(held).digest())
    now = time.monotonic()
    cached = _PROVEN.get(key)
    if cached is None or now - cached[1] > PROOF_LIFETIME:
        if len(_PROVEN) > 1024:
            _PROVEN.clear()
        cached = _PROVEN[key] = (_authentic(keyring, row) is not None, now)
    return cached[0]


def published(session: Session, keyring: Keyring, *, now: datetime) -> list[dict[str, Any]]:
    """The JWKS: the active key and every retired one a live credential may rest on; only
    keys that prove themselves the provider's (a planted row is logged and left out)."""
    rows = session.exec(select(CredentialKey).order_by(col(CredentialKey.created_at).desc()))
    keys = []
    for row in rows:
        if row.retired_at is not None and row.retired_at + LONGEST_LIFE < now:
            continue
        if not _proven(keyring, row):
            log.error("credential key refused: it is not the key provider's", extra={"kid": row.kid[:12]})
            continue
        keys.append({**jwk_of(row.public_key), "kid": row.kid, "alg": "EdDSA", "use": "sig"})
    return keys


def _wrapped_below(version: int) -> Any:
    # A key held in the token has nothing wrapped to rotate.
    return sa.and_(col(CredentialKey.wrapped).is_not(None), col(CredentialKey.kek_version) < version)


def pending_rewraps(session: Session, keyring: Keyring) -> int:
    below = keyring.provider.kek_version
    return len(session.exec(select(CredentialKey.kid).where(_wrapped_below(below))).all())


def rewrap(session: Session, keyring: Keyring, *, below: int) -> int:
    """Rewrap the keys still under a KEK version older than `below` (KEK rotation)."""
    count = 0
    for row in session.exec(select(CredentialKey).where(_wrapped_below(below))):
        assert row.wrapped is not None
        aad = _aad(row.kid, row.public_key)
        row.wrapped = keyring.provider.wrap(keyring.provider.unwrap(row.wrapped, aad=aad), aad=aad)
        row.kek_version = keyring.provider.kek_version
        session.add(row)
        count += 1
    return count
