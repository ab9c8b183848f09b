"""Tables of who may act: org units (the jurisdiction tree) and accounts (staff, services)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.db import UTCDateTime


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"

    code: str = Field(primary_key=True, max_length=15)
    name: str = Field(max_length=200)
    parent_code: str | None = Field(default=None, foreign_key="org_unit.code", max_length=15)
    # Materialised path "/320500/320571/320571001/": a subtree is one indexed prefix match.
    path: str = Field(max_length=512, index=True, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AccountKind(StrEnum):
    HUMAN = "human"
    SERVICE = "service"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class UserAccount(SQLModel, table=True):
    __tablename__ = "user_account"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=16)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=200)
    # Staff only, optional: correction teams of female subjects need a female member (社区矫正法 Art. 25).
    sex: str | None = Field(default=None, max_length=8)
    org_unit_code: str | None = Field(default=None, foreign_key="org_unit.code", max_length=15, index=True)
    roles: list[str] = Field(sa_column=Column(sa.JSON, nullable=False))
    status: str = Field(default=AccountStatus.ACTIVE, max_length=16)
    password_hash: str | None = Field(default=None, max_length=255)
    client_id: str | None = Field(default=None, max_length=64, unique=True)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Bumped on disable, role change, org move or password change: older tokens die at once.
    token_version: int = 1
    totp_secret_wrapped: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    totp_enabled: bool = False
    # Last accepted TOTP time step: a code is never accepted twice (replay).
    totp_last_step: int | None = None
    # Set by an administrator's create or reset: the password is one-time and only lets its
    # owner choose a new one (`login.set_password_with_one_time`); no token is issued.
    password_change_required: bool = Field(
        default=False, sa_column=Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    # The administrator who made the account (the requester when it took an approval).
    created_by: uuid.UUID | None = None
    # Administrators who could have learned the account's credentials (`approvals.makers`):
    # its creator, the approver of its creation, whoever reset its password. Empty for the
    # bootstrap administrator and a founding administrator made at the console.
    makers: list[str] = Field(
        default_factory=list, sa_column=Column(sa.JSON, nullable=False, server_default=sa.text("'[]'"))
    )
    # HMAC over the security columns (`accounts/seal.py`) and the index root version it used.
    security_seal: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    seal_version: int | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class ApprovalAction(StrEnum):
    USER_CREATE = "user_create"
    USER_UPDATE = "user_update"
    PASSWORD_RESET = "password_reset"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # Undecided past `expires_at`: set when a list or a decision finds it so.
    EXPIRED = "expired"


class AccountApproval(SQLModel, table=True):
    """A change to an account that waits for a second administrator (dual control)."""

    __tablename__ = "account_approval"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    action: str = Field(max_length=32)
    status: str = Field(default=ApprovalStatus.PENDING, max_length=16, index=True)
    # The account concerned: set at request time for updates and resets, at approval for creates.
    account_id: uuid.UUID | None = Field(default=None, index=True)
    # The org unit that decides who sees the request (None: tree-wide administrators only).
    org_unit_code: str | None = Field(default=None, max_length=15)
    # What to do, as the request validated it: roles, org unit, names; never a password.
    payload: dict[str, object] = Field(sa_column=Column(sa.JSON, nullable=False))
    # The account version the request was made against: approval of a stale request is refused.
    target_version: int | None = None
    requested_by: uuid.UUID
    requested_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # After this an approval is refused (REGISTRY_APPROVAL_TTL_HOURS from the request).
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    decided_by: uuid.UUID | None = None
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # HMAC over every column above (`accounts/seal.py` APPROVAL_SEALED), as for accounts:
    # a database writer cannot swap the requester, revive a decided request or change it.
    security_seal: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    seal_version: int | None = None
