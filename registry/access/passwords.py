"""Password hashing (passlib CryptContext, argon2 first) and the password policy."""

from __future__ import annotations

import secrets

from passlib.context import CryptContext

from registry.errors import RuleViolation

# argon2 first; `verify_and_update` rehashes a stored hash whose scheme or cost is outdated.
_context = CryptContext(schemes=["argon2"], deprecated="auto")
MIN_LENGTH = 12
MAX_LENGTH = 256  # bounds hashing cost; argon2 is slow by design

# A real hash of a random password: unknown usernames are verified against it so they
# take as long as known ones (no username enumeration by timing).
_DUMMY_HASH = _context.hash(secrets.token_urlsafe(24))


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash if the stored one should be upgraded). Constant work for None."""
    if password_hash is None or len(password) > MAX_LENGTH:
        _context.verify(password[:MAX_LENGTH], _DUMMY_HASH)
        return False, None
    return _context.verify_and_update(password, password_hash)


def check_password_policy(password: str, *, username: str) -> None:
    if len(password) < MIN_LENGTH:
        raise RuleViolation(f"password_policy: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise RuleViolation(f"password_policy: at most {MAX_LENGTH} characters")
    if password.casefold() == username.casefold():
        raise RuleViolation("password_policy: must not equal the username")


def generate_password() -> str:
    """A one-time password for bootstrap and resets: 24 URL-safe characters (~143 bits)."""
    return secrets.token_urlsafe(18)
