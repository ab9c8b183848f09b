"""The offline verifier: a presentation checked with only what the issuer publishes (its
keys and its status list), never the registry's records. Signature, disclosures, expiry,
then the status entry the credential names."""

from __future__ import annotations

import base64
import hmac
import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from jwcrypto import jwk
from sd_jwt.verifier import SDJWTVerifier

from registry.credentials.status import BITS, TYP, VALID, read

STATUS_NAMES = {0: "valid", 1: "revoked", 2: "suspended"}


@dataclass
class Verdict:
    ok: bool
    reason: str
    claims: dict[str, Any] = field(default_factory=dict)


def _keys(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["kid"]: k for k in metadata.get("jwks", {}).get("keys", []) if "kid" in k}


def binds(claims: dict[str, Any], id_number: str) -> bool:
    """Whether the disclosed ID number is the one on the identity card shown (a credential
    that does not disclose it binds to no card)."""
    disclosed = claims.get("id_number")
    return isinstance(disclosed, str) and hmac.compare_digest(disclosed.upper(), id_number.strip().upper())


def verify(
    presentation: str, *, metadata: dict[str, Any], status_list: str, at: datetime, id_number: str | None = None
) -> Verdict:
    """`id_number`: the number on the identity card shown, checked against the binding."""
    keys = _keys(metadata)
    issuer = metadata.get("issuer")

    def issuer_key(iss: str, header: dict[str, Any]) -> jwk.JWK:
        if iss != issuer or header.get("kid") not in keys:
            raise ValueError("unknown issuer or key")
        return jwk.JWK(**keys[header["kid"]])

    try:
        claims = SDJWTVerifier(presentation, issuer_key, None, None).get_verified_payload()
    except Exception as exc:  # any failure of the format or the signature is a refusal
        return Verdict(False, f"signature or disclosures do not verify ({type(exc).__name__})")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= at.timestamp():
        return Verdict(False, "expired", claims)
    entry = claims.get("status", {}).get("status_list", {})
    try:
        header = jwt.get_unverified_header(status_list)
        key = keys[header["kid"]]
        public = jwt.PyJWK(key).key
        # Expiry is checked below against `at`, the moment the verifier asks about.
        listed = jwt.decode(
            status_list,
            public,
            algorithms=["EdDSA"],
            options={"require": ["exp", "iat"], "verify_exp": False, "verify_iat": False},
        )
    except Exception as exc:
        return Verdict(False, f"the status list does not verify ({type(exc).__name__})", claims)
    if listed["exp"] <= at.timestamp():
        return Verdict(False, "the status list has expired: fetch the current one", claims)
    if header.get("typ") != TYP or listed.get("sub") != entry.get("uri") or listed["status_list"]["bits"] != BITS:
        return Verdict(False, "the status list is not the one the credential names", claims)
    lst = listed["status_list"]["lst"]
    packed = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    index = entry.get("idx")
    if not isinstance(index, int) or not 0 <= index < len(packed) * 8 // BITS:
        return Verdict(False, "the status index is outside the list", claims)
    value = read(packed, index)
    if value != VALID:
        return Verdict(False, STATUS_NAMES.get(value, f"status {value}"), claims)
    if id_number is not None and not binds(claims, id_number):
        return Verdict(False, "the credential is not bound to this identity card", claims)
    return Verdict(True, "valid", claims)


def load_json(text: str) -> dict[str, Any]:
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError("issuer metadata must be a JSON object")
    return loaded
