"""Request and response models of administration and authentication. Unknown fields are refused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from registry.access import passwords
from registry.access.policy import SERVICE_ROLES, Role
from registry.fields import OrgUnitCode

Username = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9._-]{2,63}$")]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=passwords.MAX_LENGTH)]
# A password being set: the policy's length in the schema, so a generated client checks it
# too; the rest of the policy (not the username) is a 422 naming `password_policy`.
NewPassword = Annotated[
    str,
    StringConstraints(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH),
    Field(description=f"At least {passwords.MIN_LENGTH} characters, not the username."),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrgUnitCreate(Strict):
    code: OrgUnitCode = Field(examples=["320571001"])
    name: DisplayName = Field(examples=["Example street"])
    parent_code: OrgUnitCode | None = Field(default=None, examples=["320571"])


class OrgUnitRead(Strict):
    code: str
    name: str
    parent_code: str | None
    path: str
    created_at: datetime


Sex = Literal["male", "female"]


class UserCreate(Strict):
    username: Username = Field(examples=["officer.wang"])
    display_name: DisplayName
    sex: Sex | None = None
    org_unit: OrgUnitCode | None = None
    roles: list[Role] = Field(min_length=1, max_length=8)


class UserUpdate(Strict):
    display_name: DisplayName | None = None
    sex: Sex | None = None
    org_unit: OrgUnitCode | None = None
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=8)
    status: Literal["active", "disabled"] | None = None


class UserRead(Strict):
    id: uuid.UUID
    kind: str
    username: str
    display_name: str
    sex: str | None = None
    org_unit: str | None
    roles: list[Role]
    status: str
    locked: bool
    mfa_enabled: bool
    password_change_required: bool = False
    created_at: datetime
    version: int


class UserCreated(UserRead):
    one_time_password: str = Field(
        description="Shown once. It only lets the owner choose a password (POST /api/v1/auth/password/one-time)."
    )


class PasswordReset(Strict):
    """Empty: the service makes the one-time password; an administrator never chooses one."""


class OneTimePassword(Strict):
    account_id: uuid.UUID
    one_time_password: str = Field(description="Shown once; hand it to the account's owner.")


class OneTimePasswordSet(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    one_time_password: Password
    otp: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    new_password: NewPassword


class ApprovalRead(Strict):
    id: uuid.UUID
    action: Literal["user_create", "user_update", "password_reset"]
    status: Literal["pending", "approved", "rejected", "expired"]
    account_id: uuid.UUID | None
    org_unit: str | None
    changes: dict[str, object] = Field(description="What approval does: roles, org unit, names, status.")
    requested_by: uuid.UUID
    requested_at: datetime
    expires_at: datetime | None = Field(default=None, description="Not approved by then, the request expires.")
    decided_by: uuid.UUID | None
    decided_at: datetime | None


class ApprovalDecided(Strict):
    approval: ApprovalRead
    user: UserRead | None = None
    one_time_password: str | None = Field(
        default=None, description="Creates and resets: shown once, to the approver; hand it to the owner."
    )


class PasswordChange(Strict):
    current_password: Password
    new_password: NewPassword


_SERVICE_ROLE_NAMES: list[JsonValue] = [r.value for r in sorted(SERVICE_ROLES)]


class ServiceAccountCreate(Strict):
    name: Username
    org_unit: OrgUnitCode | None = None
    # The schema names the service roles, so a client offers only what a service may hold.
    roles: list[Role] = Field(min_length=1, max_length=8, json_schema_extra={"items": {"enum": _SERVICE_ROLE_NAMES}})


class ServiceAccountCreated(Strict):
    id: uuid.UUID
    client_id: str
    client_secret: str = Field(description="Shown once; store it now.")
    roles: list[Role]
    org_unit: str | None


class Token(Strict):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    mfa_pending: bool = False


class MfaEnrolment(Strict):
    otpauth_uri: str


class MfaConfirm(Strict):
    otp: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] = Field(
        description="The current code of the authenticator just enrolled (`POST /auth/mfa`); any other is 422."
    )


T = TypeVar("T")


class Page(Strict, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
