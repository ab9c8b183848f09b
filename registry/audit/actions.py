"""Audit actions: a closed vocabulary of `resource:action` (Warehouse events/tags.py)."""

from enum import StrEnum


class Action(StrEnum):
    AUTH_LOGIN = "auth:login"
    AUTH_TOKEN_REFUSED = "auth:token-refused"
    AUTH_MFA_ENROL = "auth:mfa-enrol"
    AUTH_MFA_CONFIRM = "auth:mfa-confirm"
    AUTH_PASSWORD_CHANGE = "auth:password-change"
    ACCESS_DENIED = "access:denied"
    ORG_UNIT_CREATE = "org_unit:create"
    ORG_UNIT_READ = "org_unit:read"
    USER_CREATE = "user:create"
    USER_READ = "user:read"
    USER_UPDATE = "user:update"
    USER_ROLE_GRANT = "user:role-grant"
    USER_DISABLE = "user:disable"
    USER_UNLOCK = "user:unlock"
    USER_PASSWORD_RESET = "user:password-reset"
    SERVICE_ACCOUNT_CREATE = "service_account:create"
    PERSON_CREATE = "person:create"
    PERSON_READ = "person:read"
    PERSON_UPDATE = "person:update"
    PERSON_SEARCH = "person:search"
    PERSON_ERASE = "person:erase"
    INTEGRITY_FAILURE = "integrity:failure"
    KEY_ROTATE = "key:rotate"
    AUDIT_QUERY = "audit:query"
    AUDIT_VERIFY = "audit:verify"
    SYSTEM_INIT = "system:init"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
