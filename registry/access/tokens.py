"""Short-lived bearer tokens (PyJWT, HS256).

A token names its account and the account's `token_version`; every request compares that
with the database, so disabling an account or changing its roles ends its tokens at once.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from registry.errors import Unauthenticated

ALGORITHM = "HS256"
ISSUER = "registry"


@dataclass(frozen=True)
class TokenClaims:
    account_id: uuid.UUID
    token_version: int
    # The password was right but the second factor is still owed: only MFA enrolment is open.
    mfa_pending: bool


def issue_token(secret: bytes, claims: TokenClaims, *, now: datetime, lifetime: timedelta) -> str:
    payload = {
        "iss": ISSUER,
        "sub": str(claims.account_id),
        "tv": claims.token_version,
        "mfa_pending": claims.mfa_pending,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_token(secret: bytes, token: str, *, now: datetime) -> TokenClaims:
    claims, expires = _verified(secret, token)
    # Expiry is judged on the injected clock, not the host clock, at every use.
    if expires <= now.timestamp():
        raise Unauthenticated("token expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(secret: bytes, token: str) -> tuple[TokenClaims, float]:
    """The signature check and parse of a token, once per process: what it says cannot
    change (whether its account still stands behind it is the database's word, read at
    every use). A token that fails raises, and is never remembered."""
    try:
        # The algorithm list is fixed: `alg: none` and algorithm confusion are refused.
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"], "verify_exp": False, "verify_iat": False},
        )
        expires = payload["exp"]
        if type(expires) is not int:  # a NumericDate as issued: never a string, "nan" or a float
            raise ValueError("exp")
        claims = TokenClaims(uuid.UUID(payload["sub"]), int(payload["tv"]), bool(payload.get("mfa_pending", False)))
        return claims, float(expires)
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise Unauthenticated("invalid token") from exc
