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
    # The audit entry's reason when it must say more than the public `detail` (a 404 that
    # looks like any other to the caller, but was a refused use of a break-glass grant).
    audit_reason: str | None = None
    # The break-glass grant the refused request tried to rest on, for that audit entry.
    audit_grant: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        audit_as: str | None = None,
        targets: tuple[str, ...] = (),
        **extra: object,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        # An error carries its audit event (STYLE.md); the request boundary writes it after
        # the rollback, in its own transaction.
        if audit_as is not None:
            self.audit_as = audit_as
        if targets:
            self.targets = targets
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
    """Out of scope, hidden by compartment and non-existent alike: one 404 to the caller,
    one denied entry naming the target on the record (probing reaches the alerts)."""

    status = 404
    title = "Not found"
    audit_as = "access:denied"


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

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: int | None = None,
        audit_as: str | None = None,
        targets: tuple[str, ...] = (),
        **extra: object,
    ) -> None:
        super().__init__(detail, audit_as=audit_as, targets=targets, **extra)
        # Whole seconds until a retry can succeed; sent as the Retry-After header.
        self.retry_after = retry_after


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
