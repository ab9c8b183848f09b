"""Account security seal and approval expiry

Revision ID: 0018
Revises: 0017

`user_account.makers`: the administrators who could have learned an account's credentials
(dual control refuses an approval between an account and its makers). Existing accounts get
their creator, the only maker recorded before. `security_seal` / `seal_version`: an HMAC
over the security columns; a migration holds no keys, so existing rows are sealed once by
`registry init` or the service's start (`accounts/seal.py`). `account_approval.expires_at`:
pending requests made before this revision expire 72 hours (the default) after they were made;
`account_approval.security_seal` / `seal_version`: the same HMAC over a request's columns,
sealed in the same once-only window.
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("makers", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("security_seal", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("seal_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("account_approval") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("security_seal", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("seal_version", sa.Integer(), nullable=True))
    bind = op.get_bind()
    accounts = sa.table("user_account", sa.column("id", sa.Uuid()), sa.column("created_by", sa.Uuid()))
    made = bind.execute(sa.select(accounts.c.id, accounts.c.created_by).where(accounts.c.created_by.is_not(None)))
    makers = sa.table("user_account", sa.column("id", sa.Uuid()), sa.column("makers", sa.JSON()))
    for account_id, created_by in list(made):
        bind.execute(sa.update(makers).where(makers.c.id == account_id).values(makers=[str(created_by)]))
    approvals = sa.table(
        "account_approval",
        sa.column("id", sa.Uuid()),
        sa.column("requested_at", UTCDateTime()),
        sa.column("expires_at", UTCDateTime()),
    )
    for approval_id, requested_at in list(bind.execute(sa.select(approvals.c.id, approvals.c.requested_at))):
        bind.execute(
            sa.update(approvals)
            .where(approvals.c.id == approval_id)
            .values(expires_at=requested_at + timedelta(hours=72))
        )


def downgrade() -> None:
    raise NotImplementedError("forward-only: restore from backup")
