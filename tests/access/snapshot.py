"""The role matrix as reviewed, written out by hand (PRIVACY.md §3, GB/T 22239 level 3).

This is the reference the tests hold the service to: `test_policy_snapshot.py` checks
`registry.access.policy` against it, and the access-matrix model
(tests/support/access_model.py) computes what every role should get from it. Nothing here
is derived from `POLICY`: a change to the policy table fails until this file is changed
too, in the same review. Plain strings, not the enums, so a renamed value fails as well.

MFA_ROLES is deliberately absent: which accounts need a second factor is being changed
(TOTP for every human account in production) and is tested with login.
"""

from __future__ import annotations

from typing import NamedTuple

from registry.access.policy import Permission, Purpose, Role


class RolePowers(NamedTuple):
    permissions: frozenset[str]
    purposes: frozenset[str]
    personal_data: bool


ROLE_MATRIX: dict[str, RolePowers] = {
    "police": RolePowers(
        permissions=frozenset(
            {
                "person:read",
                "person:write",
                "person:search",
                "residence:read",
                "residence:write",
                "stats:read",
                "permit:apply",
                "permit:issue",
                "casefile:drug_rehabilitation",
            }
        ),
        purposes=frozenset(
            {"registration", "supervision", "investigation", "court_request", "data_subject_request", "emergency"}
        ),
        personal_data=True,
    ),
    "civil_affairs": RolePowers(
        permissions=frozenset(
            {
                "person:read",
                "person:write",
                "person:search",
                "residence:read",
                "residence:write",
                "stats:read",
                "permit:apply",
                "casefile:resettlement",
            }
        ),
        purposes=frozenset({"registration", "assistance", "data_subject_request", "emergency"}),
        personal_data=True,
    ),
    "corrections": RolePowers(
        permissions=frozenset(
            {
                "person:read",
                "person:search",
                "person:register",  # issue 14: a subject's identity, registered as a file opens (Art. 22)
                "casefile:community_correction",
                "casefile:resettlement",
                "stats:read",
            }
        ),
        purposes=frozenset({"supervision", "assistance", "court_request", "data_subject_request", "emergency"}),
        personal_data=True,
    ),
    "social_worker": RolePowers(
        permissions=frozenset({"casefile:assigned"}),
        purposes=frozenset({"supervision", "assistance"}),
        personal_data=True,
    ),
    "verifier": RolePowers(
        permissions=frozenset({"permit:verify"}),
        purposes=frozenset({"verification"}),
        personal_data=False,
    ),
    "auditor": RolePowers(
        permissions=frozenset({"audit:read", "audit:review"}),
        purposes=frozenset(),
        personal_data=False,
    ),
    "security_admin": RolePowers(
        permissions=frozenset({"key:manage", "retention:run", "restore:declare"}),
        purposes=frozenset(),
        personal_data=False,
    ),
    "admin": RolePowers(
        permissions=frozenset({"org_unit:manage", "user:manage", "service_account:manage"}),
        purposes=frozenset(),
        personal_data=False,
    ),
}

# Separation of duties: each of these stands alone (no other role beside it).
SEPARATED_ROLES = frozenset({"admin", "security_admin", "auditor"})
# Roles a service account (client credentials) may hold; no human account may hold them.
SERVICE_ROLES = frozenset({"verifier"})


# Typed views for the access-matrix model. They convert the literal strings above, so a
# value missing from the enums fails here rather than comparing unequal somewhere later.


def permissions(role: Role) -> frozenset[Permission]:
    return frozenset(Permission(p) for p in ROLE_MATRIX[role.value].permissions)


def purposes(role: Role) -> frozenset[Purpose]:
    return frozenset(Purpose(p) for p in ROLE_MATRIX[role.value].purposes)


def personal_data(role: Role) -> bool:
    return ROLE_MATRIX[role.value].personal_data
