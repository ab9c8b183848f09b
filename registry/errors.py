"""Domain errors. Services raise these; only `api/errors.py` turns them into problem+json.

Messages must never contain a personal value: they reach clients and logs.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error the service raises on purpose."""

    status = 500
    title = "Internal error"
    # Errors the request boundary must audit although the request fails: the audit action
    # to record (a refusal of access, an integrity failure), or None.
    audit_as: str | None = None
    # Opaque ids of what the error concerns, for that audit entry; never in the response.
    targets: tuple[str, ...] = ()

    def __init__(self, detail: str | None = None, **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        # Extra problem members (e.g. `person_id` on a duplicate); never personal values.
        self.extra = extra


class BadRequest(RegistryError):
    status = 400
    title = "Bad request"


class Unauthenticated(RegistryError):
    status = 401
    title = "Not authenticated"


class Forbidden(RegistryError):
    status = 403
    title = "Forbidden"
    audit_as = "access:denied"


class PurposeRefused(BadRequest):
    """`X-Purpose` missing, unknown, or not declarable by the caller's role."""

    title = "Purpose of use required"
    audit_as = "access:denied"


class NotFound(RegistryError):
    status = 404
    title = "Not found"


class Conflict(RegistryError):
    status = 409
    title = "Conflict"


class Gone(RegistryError):
    """The record's keys were destroyed (crypto-shredding): it existed and cannot be read."""

    status = 410
    title = "Erased"


class PreconditionFailed(RegistryError):
    status = 412
    title = "Precondition failed"


class PreconditionRequired(RegistryError):
    status = 428
    title = "Precondition required"


class RuleViolation(RegistryError):
    """Valid input that a domain or policy rule refuses; `detail` names the rule."""

    status = 422
    title = "Rule violation"


class RateLimited(RegistryError):
    status = 429
    title = "Too many requests"


class IntegrityFailure(RegistryError):
    """Stored data failed an integrity check (e.g. a ciphertext did not authenticate)."""

    status = 500
    title = "Integrity failure"
    audit_as = "integrity:failure"


class Unavailable(RegistryError):
    """A dependency the request needs (database, audit log, key provider) is down."""

    status = 503
    title = "Service unavailable"


class ConfigurationError(RegistryError):
    """Settings that are missing or insecure; raised at startup, never per request."""

    title = "Configuration error"
