"""The authenticated caller, as every service sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from registry.access.policy import POLICY, Permission, Purpose, Role, permissions_of, purposes_of
from registry.access.scope import Scope
from registry.errors import Forbidden, PurposeRefused


@dataclass(frozen=True)
class Principal:
    account_id: uuid.UUID
    username: str
    kind: str
    roles: frozenset[Role]
    org_unit_code: str | None
    scope: Scope
    # The account's token version when it logged in at the console (None over the API,
    # where the bearer token carries it): work spanning many transactions stops once the
    # account has moved on from it, as every token of it dies.
    token_version: int | None = None

    def can(self, permission: Permission) -> bool:
        return permission in permissions_of(self.roles)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(f"the role may not {permission}")

    @property
    def sees_personal_data(self) -> bool:
        return any(POLICY[r].personal_data for r in self.roles)

    def declare(self, header: str | None) -> Purpose:
        """The purpose of use from `X-Purpose`: present, known, and declarable by the role."""
        if not header:
            raise PurposeRefused("X-Purpose header is required for a request that discloses personal data")
        try:
            purpose = Purpose(header.strip())
        except ValueError:
            raise PurposeRefused("X-Purpose is not a known purpose code") from None
        if purpose not in purposes_of(self.roles):
            raise PurposeRefused(f"X-Purpose {purpose} cannot be declared by this role")
        return purpose


# The operator at the console (`registry users create`): tree-wide, audited under a fixed id.
SYSTEM_ACCOUNT_ID = uuid.UUID(int=0)


def system_principal(*roles: Role) -> Principal:
    return Principal(SYSTEM_ACCOUNT_ID, "system", "system", frozenset(roles), None, Scope(None))
