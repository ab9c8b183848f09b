"""Casefile tables. The details and every event body are sealed under the person's
`casefile` DEK; states, dates and kinds stay plain for deadlines, worklists and retention."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from registry.access.policy import Role
from registry.casefiles.details import OFFENCE_FIELDS
from registry.casefiles.notices.numbers import document_key
from registry.crypto.keyring import Compartment
from registry.crypto.sealed import BlindIndex, SealedField, SealedTable, Visibility, describe
from registry.db import UTCDateTime


class Casefile(SQLModel, table=True):
    __tablename__ = "casefile"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=32, index=True)
    org_unit_code: str = Field(foreign_key="org_unit.code", max_length=15, index=True)  # supervising unit
    status: str = Field(max_length=32, index=True)
    opened_on: date
    closed_on: date | None = None  # the day the closure (discharged, revoked…) was approved: retention counts from it
    # Plain deadlines for the worklists, derived from the sealed details at opening.
    report_due_on: date | None = None
    term_ends_on: date | None = Field(default=None, index=True)
    handover_due_on: date | None = None
    # Resettlement: the day the person was released (reached `released`), for the KPIs.
    released_on: date | None = None
    # A drug file's suspension (detention) start: the days until it resumes do not count
    # towards the term (戒毒条例 Art. 24), so the term end moves on resumption.
    term_paused_on: date | None = None
    minor: bool = False
    sealed: bool = False
    sealed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    legal_hold: bool = False
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    details_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class CasefileEvent(SQLModel, table=True):
    __tablename__ = "casefile_event"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", index=True)
    type: str = Field(max_length=32)
    occurred_on: date
    # The last day of a period type (an absence; `events_catalogue`), whose first day is
    # `occurred_on`: plain so that absences count in days without opening a body.
    ends_on: date | None = None
    # A `transition`'s new state (the file's own status, plain already): the dates a file
    # reached each state, which the KPIs count (`registry.kpis`), without opening a body.
    moved_to: str | None = Field(default=None, max_length=32)
    body_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    recorded_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CasefileMember(SQLModel, table=True):
    """Assignments (`assigned`), the exclusion list (`excluded`) and the restriction list
    (`restricted_to`: when any exist, only they may see the file)."""

    __tablename__ = "casefile_member"

    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", primary_key=True)
    role: str = Field(primary_key=True, max_length=16)


class BreakGlassGrant(SQLModel, table=True):
    __tablename__ = "break_glass_grant"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    reason_code: str = Field(max_length=32)
    justification_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class LeaveRequest(SQLModel, table=True):
    """Leave outside the city or county (社区矫正法 Art. 27) of a community-correction subject.
    Destination, reason and the decision note are sealed under the person's `casefile` DEK;
    dates, state and the approval level stay plain for deadlines and worklists. Actor ids
    are account ids, as in the audit log."""

    __tablename__ = "leave_request"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", index=True)
    starts_on: date
    ends_on: date = Field(index=True)
    destination_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    reason_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    status: str = Field(max_length=16, index=True)  # requested | approved | refused | returned | overdue
    required_level: str = Field(max_length=16)  # justice_office | county | above_county
    requested_by: uuid.UUID
    decided_by: uuid.UUID | None = None
    decided_level: str | None = Field(default=None, max_length=16)
    decided_on: date | None = None
    decision_note_ct: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    returned_on: date | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class Transfer(SQLModel, table=True):
    """A change of execution place: the supervising unit proposes, the receiving unit
    accepts, and the file (with access to it) moves on acceptance. No personal data."""

    __tablename__ = "casefile_transfer"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", index=True)
    from_org_unit: str = Field(foreign_key="org_unit.code", max_length=15)
    to_org_unit: str = Field(foreign_key="org_unit.code", max_length=15, index=True)
    status: str = Field(max_length=16, index=True)  # proposed | accepted | cancelled
    proposed_by: uuid.UUID
    proposed_on: date
    accepted_by: uuid.UUID | None = None
    accepted_on: date | None = None
    report_due_on: date | None = None  # accepted_on + 7 days: the subject reports to the new office
    cancelled_by: uuid.UUID | None = None
    cancelled_on: date | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = 1


class NoticeReceipt(SQLModel, table=True):
    """An incoming notice that opened a file (`registry.casefiles.notices`): its number,
    sealed under the file's casefile DEK and found by the `document_no` blind index, makes
    the same notice imported again a duplicate. `kind` is the notice's (`prison_release`,
    `court_correction`), `received_by` the importing account."""

    __tablename__ = "notice_receipt"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", index=True)
    document_no_ct: bytes = Field(sa_column=Column(sa.LargeBinary, nullable=False))
    received_by: uuid.UUID
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CasefileClosure(SQLModel, table=True):
    """A transition that ends a file, awaiting (or given) the supervising level's approval.
    The file keeps its state until approval; its `closed_on` is then the approval date, so
    retention never counts from `declared_on` alone (issue 13). The request's reason and
    certificate number are on the file's sealed timeline; this row holds no personal data."""

    __tablename__ = "casefile_closure"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    casefile_id: uuid.UUID = Field(foreign_key="casefile.id", index=True)
    from_status: str = Field(max_length=32)
    to_status: str = Field(max_length=32)
    declared_on: date  # the date the request states (of the discharge, the death…)
    status: str = Field(max_length=16, index=True)  # pending | approved | refused
    requested_by: uuid.UUID
    requested_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    decided_by: uuid.UUID | None = None
    decided_on: date | None = None
    version: int = 1


# Roles that may hold casefiles see the sealed fields in full once `access.open_casefile`
# let them in; social workers never see the offence fields of the file's kind (PRIVACY.md §3).
_CASEFILE_ROLES = (Role.CORRECTIONS, Role.CIVIL_AFFAIRS, Role.POLICE, Role.SOCIAL_WORKER)
_FULL = dict.fromkeys(_CASEFILE_ROLES, Visibility.FULL)
_OF_THE_FILE = frozenset({"id", "casefile_id"})

CASEFILE = describe(
    SealedTable(
        model=Casefile,
        compartment=Compartment.CASEFILE,
        owner_column="person_id",
        fields=(
            SealedField(
                "details",
                _FULL,
                json=True,
                withheld_keys={Role.SOCIAL_WORKER: lambda casefile: OFFENCE_FIELDS[casefile.kind]},
            ),
        ),
        plain=frozenset(
            {
                "id",
                "person_id",
                "kind",
                "org_unit_code",
                "status",
                "opened_on",
                "closed_on",
                "report_due_on",
                "term_ends_on",
                "handover_due_on",
                "released_on",
                "term_paused_on",
                "minor",
                "sealed",
                "sealed_at",
                "legal_hold",
                "erased_at",
                "created_at",
                "version",
            }
        ),
        erased_column="erased_at",
    )
)

CASEFILE_EVENT = describe(
    SealedTable(
        model=CasefileEvent,
        compartment=Compartment.CASEFILE,
        parent=("casefile_id", "casefile"),
        fields=(SealedField("body", _FULL, json=True),),
        # `type` is a code of the event catalogue (`[a-z_]{2,32}`), `recorded_by` an account id.
        plain=_OF_THE_FILE | {"type", "occurred_on", "ends_on", "moved_to", "recorded_by", "created_at"},
    )
)

BREAK_GLASS_GRANT = describe(
    SealedTable(
        model=BreakGlassGrant,
        compartment=Compartment.CASEFILE,
        parent=("casefile_id", "casefile"),
        # The justification is kept for the review; no role reads it back through the API.
        fields=(SealedField("justification", {}),),
        plain=_OF_THE_FILE | {"user_id", "reason_code", "created_at", "expires_at"},
    )
)

LEAVE_REQUEST = describe(
    SealedTable(
        model=LeaveRequest,
        compartment=Compartment.CASEFILE,
        parent=("casefile_id", "casefile"),
        fields=(SealedField("destination", _FULL), SealedField("reason", _FULL), SealedField("decision_note", _FULL)),
        plain=_OF_THE_FILE
        | {
            "starts_on",
            "ends_on",
            "status",
            "required_level",
            "requested_by",
            "decided_by",
            "decided_level",
            "decided_on",
            "returned_on",
            "created_at",
            "version",
        },
    )
)

NOTICE_RECEIPT = describe(
    SealedTable(
        model=NoticeReceipt,
        compartment=Compartment.CASEFILE,
        parent=("casefile_id", "casefile"),
        # Read by no role: the number only tells the importer that a notice came before.
        fields=(SealedField("document_no", {}),),
        plain=_OF_THE_FILE | {"kind", "received_by", "received_at"},
        indexes=(
            BlindIndex(
                "document_no",
                ("document_no",),
                lambda opened: None if opened.get("document_no") is None else document_key(opened["document_no"]),  # type: ignore[arg-type]
            ),
        ),
    )
)
