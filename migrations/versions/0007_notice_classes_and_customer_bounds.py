"""notice classes and customer bounds

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "notice_class",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="update",
            )
        )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("spares_safety", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column(
            "name",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
            type_=sqlmodel.sql.sqltypes.AutoString(length=1000),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column(
            "name",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=1000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=200),
            existing_nullable=False,
        )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_column("spares_safety")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("notice_class")
