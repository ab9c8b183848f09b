"""TOTP second factor (RFC 6238 through pyotp).

The shared secret is stored wrapped by the key provider, bound to the account id.
"""

from __future__ import annotations

import pyotp

ISSUER = "registry"
# Accept the previous and next 30-second step for clock drift.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def matching_step(secret: str, otp: str, *, at: float, last_step: int | None) -> int | None:
    """The time step `otp` is valid for, or None; a step already used is refused (replay)."""
    totp = pyotp.TOTP(secret)
    if not (otp.isdigit() and len(otp) == totp.digits):
        return None
    step = int(at // totp.interval)
    for candidate in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if totp.verify(otp, for_time=candidate * totp.interval, valid_window=0):
            return candidate
    return None


def wrap_aad(account_id: str) -> bytes:
    return b"registry|totp|" + account_id.encode()
