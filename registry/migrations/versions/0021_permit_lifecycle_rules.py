"""Permit lifecycle rules

Revision ID: 0021
Revises: 0020

Issue 14: one live permit per person, held by a partial unique index (SQLite and
PostgreSQL both take its WHERE clause). Rows written before the rules existed are first
brought under them, the way the service now acts:
- a live permit left on a registration that a move ended follows the person's active
  registration (a move keeps the permit);
- a live permit of a person who departed and has no active registration ends as on
  departure (`cancelled` on the departure day if issued, else `rejected`);
- where a person still has more than one live permit, the one in force (else the latest
  application) stays and the others end today.
The reasons of these endings are sealed values the migration cannot write: they stay empty
and the audit log has no entry for them (a migration acts outside any request).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

LIVE = ("applied", "needs_materials", "accepted", "issued")
LIVE_PERMIT = "status IN ('applied', 'needs_materials', 'accepted', 'issued')"

permit = sa.table(
    "residence_permit",
    sa.column("id", sa.Uuid()),
    sa.column("person_id", sa.Uuid()),
    sa.column("registration_id", sa.Uuid()),
    sa.column("org_unit_code", sa.String()),
    sa.column("status", sa.String()),
    sa.column("applied_on", sa.Date()),
    sa.column("issued_on", sa.Date()),
    sa.column("cancelled_on", sa.Date()),
    sa.column("created_at", sa.DateTime()),
    sa.column("version", sa.Integer()),
)
registration = sa.table(
    "residence_registration",
    sa.column("id", sa.Uuid()),
    sa.column("person_id", sa.Uuid()),
    sa.column("org_unit_code", sa.String()),
    sa.column("status", sa.String()),
    sa.column("departed_on", sa.Date()),
    sa.column("created_at", sa.DateTime()),
)


def _end(conn: sa.Connection, row, on) -> None:  # type: ignore[no-untyped-def]
    issued = row.status == "issued"
    conn.execute(
        sa.update(permit)
        .where(permit.c.id == row.id)
        .values(
            status="cancelled" if issued else "rejected",
            cancelled_on=on if issued else None,
            version=row.version + 1,
        )
    )


def upgrade() -> None:
    conn = op.get_bind()
    today = datetime.now(UTC).date()
    live = permit.c.status.in_(LIVE)
    # 1. A move keeps the permit: it follows the person's active registration.
    active = {
        r.person_id: r
        for r in conn.execute(
            sa.select(registration.c.id, registration.c.person_id, registration.c.org_unit_code).where(
                registration.c.status == "active"
            )
        )
    }
    states = dict(conn.execute(sa.select(registration.c.id, registration.c.status)).all())
    departures = dict(conn.execute(sa.select(registration.c.id, registration.c.departed_on)).all())
    rows = conn.execute(
        sa.select(permit.c.id, permit.c.person_id, permit.c.registration_id, permit.c.status, permit.c.version).where(
            live
        )
    ).all()
    for row in rows:
        current = active.get(row.person_id)
        if current is not None and states.get(row.registration_id) == "moved" and row.registration_id != current.id:
            conn.execute(
                sa.update(permit)
                .where(permit.c.id == row.id)
                .values(registration_id=current.id, org_unit_code=current.org_unit_code, version=row.version + 1)
            )
        # 2. A departure ends the permit, on the day of departure.
        elif current is None and states.get(row.registration_id) == "departed":
            _end(conn, row, departures.get(row.registration_id) or today)
    # 3. One live permit per person: the one in force, else the latest application, stays.
    remaining = conn.execute(
        sa.select(
            permit.c.id,
            permit.c.person_id,
            permit.c.status,
            permit.c.applied_on,
            permit.c.created_at,
            permit.c.version,
        ).where(live)
    ).all()
    by_person: dict[object, list] = {}  # type: ignore[type-arg]
    for row in remaining:
        by_person.setdefault(row.person_id, []).append(row)
    for held in by_person.values():
        held.sort(key=lambda r: (r.status == "issued", r.applied_on, r.created_at), reverse=True)
        for row in held[1:]:
            _end(conn, row, today)
    op.create_index(
        "uq_residence_permit_live_person",
        "residence_permit",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text(LIVE_PERMIT),
        postgresql_where=sa.text(LIVE_PERMIT),
    )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
