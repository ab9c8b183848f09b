"""Issuing keys in the token

Revision ID: 0031
Revises: 0030

Issue 17: with a PKCS#11 key provider the credential issuing key is made in the token and
never leaves it; its row keeps the token label and the public key, and nothing wrapped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credential_key") as batch:
        batch.alter_column("wrapped", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("provider_label", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credential_key") as batch:
        batch.drop_column("provider_label")
        batch.alter_column("wrapped", existing_type=sa.LargeBinary(), nullable=False)
