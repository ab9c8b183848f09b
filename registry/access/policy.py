"""The policy table: role → permissions, declarable purposes, access to personal data.

Data, not code: authorization everywhere asks this table; nothing tests role names inline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from registry.errors import RuleViolation


class Role(StrEnum):
    POLICE = "police"
    CIVIL_AFFAIRS = "civil_affairs"
    CORRECTIONS = "corrections"
    SOCIAL_WORKER = "social_worker"
    VERIFIER = "verifier"
    AUDITOR = "auditor"
    SECURITY_ADMIN = "security_admin"
    ADMIN = "admin"


class Permission(StrEnum):
    ORG_UNIT_MANAGE = "org_unit:manage"
    USER_MANAGE = "user:manage"
    SERVICE_ACCOUNT_MANAGE = "service_account:manage"
    PERSON_READ = "person:read"
    PERSON_WRITE = "person:write"
    PERSON_SEARCH = "person:search"
    PERSON_REGISTER = "person:register"  # a casefile's subject, registered as the file opens
    RESIDENCE_READ = "residence:read"
    RESIDENCE_WRITE = "residence:write"
    PERMIT_APPLY = "permit:apply"
    PERMIT_ISSUE = "permit:issue"
    PERMIT_VERIFY = "permit:verify"
    CASEFILE_CORRECTION = "casefile:community_correction"
    CASEFILE_RESETTLEMENT = "casefile:resettlement"
    CASEFILE_DRUG = "casefile:drug_rehabilitation"
    CASEFILE_ASSIGNED = "casefile:assigned"
    STATS_READ = "stats:read"
    AUDIT_READ = "audit:read"
    AUDIT_REVIEW = "audit:review"
    KEY_MANAGE = "key:manage"
    RETENTION_RUN = "retention:run"
    RESTORE_DECLARE = "restore:declare"  # start a new audit log epoch after a restore


class Purpose(StrEnum):
    REGISTRATION = "registration"
    SUPERVISION = "supervision"
    ASSISTANCE = "assistance"
    INVESTIGATION = "investigation"
    COURT_REQUEST = "court_request"
    VERIFICATION = "verification"
    DATA_SUBJECT_REQUEST = "data_subject_request"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class RolePolicy:
    permissions: frozenset[Permission]
    purposes: frozenset[Purpose]
    personal_data: bool


P, U = Permission, Purpose
_RESIDENCE = {P.PERSON_READ, P.PERSON_WRITE, P.PERSON_SEARCH, P.RESIDENCE_READ, P.RESIDENCE_WRITE, P.STATS_READ}

POLICY: dict[Role, RolePolicy] = {
    Role.POLICE: RolePolicy(
        frozenset(_RESIDENCE | {P.PERMIT_APPLY, P.PERMIT_ISSUE, P.CASEFILE_DRUG}),
        frozenset(
            {U.REGISTRATION, U.SUPERVISION, U.INVESTIGATION, U.COURT_REQUEST, U.DATA_SUBJECT_REQUEST, U.EMERGENCY}
        ),
        personal_data=True,
    ),
    Role.CIVIL_AFFAIRS: RolePolicy(
        frozenset(_RESIDENCE | {P.PERMIT_APPLY, P.CASEFILE_RESETTLEMENT}),
        frozenset({U.REGISTRATION, U.ASSISTANCE, U.DATA_SUBJECT_REQUEST, U.EMERGENCY}),
        personal_data=True,
    ),
    Role.CORRECTIONS: RolePolicy(
        # Intake registers a new subject's identity (社区矫正法 Art. 22); no other person write.
        frozenset(
            {
                P.PERSON_READ,
                P.PERSON_SEARCH,
                P.PERSON_REGISTER,
                P.CASEFILE_CORRECTION,
                P.CASEFILE_RESETTLEMENT,
                P.STATS_READ,
            }
        ),
        frozenset({U.SUPERVISION, U.ASSISTANCE, U.COURT_REQUEST, U.DATA_SUBJECT_REQUEST, U.EMERGENCY}),
        personal_data=True,
    ),
    Role.SOCIAL_WORKER: RolePolicy(
        frozenset({P.CASEFILE_ASSIGNED}),
        frozenset({U.SUPERVISION, U.ASSISTANCE}),
        personal_data=True,
    ),
    Role.VERIFIER: RolePolicy(frozenset({P.PERMIT_VERIFY}), frozenset({U.VERIFICATION}), personal_data=False),
    Role.AUDITOR: RolePolicy(frozenset({P.AUDIT_READ, P.AUDIT_REVIEW}), frozenset(), personal_data=False),
    Role.SECURITY_ADMIN: RolePolicy(
        frozenset({P.KEY_MANAGE, P.RETENTION_RUN, P.RESTORE_DECLARE}), frozenset(), personal_data=False
    ),
    Role.ADMIN: RolePolicy(
        frozenset({P.ORG_UNIT_MANAGE, P.USER_MANAGE, P.SERVICE_ACCOUNT_MANAGE}), frozenset(), personal_data=False
    ),
}

# Separation of duties (GB/T 22239 level 3): each of these stands alone.
SEPARATED_ROLES = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR})
# Roles a service account (client credentials) may hold.
SERVICE_ROLES = frozenset({Role.VERIFIER})
# Roles whose accounts must pass a second factor when MFA is required: every role a human
# account can hold (PRIVACY.md: TOTP for every human account in production); services
# authenticate with client credentials instead.
MFA_ROLES = frozenset(Role) - SERVICE_ROLES


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    return frozenset().union(*(POLICY[r].permissions for r in roles))


def purposes_of(roles: Iterable[Role]) -> frozenset[Purpose]:
    return frozenset().union(*(POLICY[r].purposes for r in roles))


def check_role_combination(roles: Iterable[Role]) -> None:
    """Refuse a set of roles that breaks separation of duties."""
    roles = set(roles)
    if not roles:
        raise RuleViolation("roles: at least one role is required")
    separated = roles & SEPARATED_ROLES
    if separated and len(roles) > 1:
        raise RuleViolation(
            "separation_of_duties: admin, security_admin and auditor cannot be combined "
            "with each other or with any other role"
        )
