"""Compact JWS (RFC 7515) with a signer that may sit in an HSM: the header and payload are
serialised here, and only the signing input goes to the key (pyca's Ed25519, or the
PKCS#11 token's CKM_EDDSA). No JOSE library takes a signing callback, so the issuer of the
SD-JWT library is given one (`SignedBy`): its claims, digests and disclosures stay its own."""

from __future__ import annotations

import json
from typing import Any

from sd_jwt.issuer import SDJWTIssuer

from registry.credentials.keys import Signer, b64url

ALG = "EdDSA"


def compact(header: dict[str, Any], payload: bytes, sign: Signer) -> str:
    protected = b64url(json.dumps({"alg": ALG, **header}, separators=(",", ":")).encode("utf-8"))
    body = b64url(payload)
    signing_input = f"{protected}.{body}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def jwt(header: dict[str, Any], claims: dict[str, Any], sign: Signer) -> str:
    return compact(header, json.dumps(claims, separators=(",", ":")).encode("utf-8"), sign)


class SignedBy(SDJWTIssuer):  # type: ignore[misc]
    """`SDJWTIssuer` whose signature comes from `sign` rather than a private key in memory."""

    def __init__(self, claims: dict[Any, Any], sign: Signer, *, header: dict[str, Any]) -> None:
        self._signer = sign
        super().__init__(claims, None, sign_alg=ALG, extra_header_parameters=header)

    def _create_signed_jws(self) -> None:
        header = {"typ": self.SD_JWT_HEADER, **self._extra_header_parameters}
        self.serialized_sd_jwt = compact(header, json.dumps(self.sd_jwt_payload).encode("utf-8"), self._signer)
