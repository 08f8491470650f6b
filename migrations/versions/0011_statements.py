"""public statements: drafted, approved by a second person, published as versions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00

A published statement never changes; a correction is a row of its own naming the one it
corrects (corrects_id). ix_statements_public answers the status page's "what changed last".
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import incident_cmd.columns

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("text", sa.JSON(), nullable=False),
        sa.Column("advice", sa.JSON(), nullable=False),
        sa.Column("template_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("drafted_by", sa.Integer(), nullable=False),
        sa.Column("drafted_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("published_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.ForeignKeyConstraint(["corrects_id"], ["statements.id"]),
        sa.ForeignKeyConstraint(["drafted_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["approved_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["published_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "version"),
    )
    op.create_index("ix_statements_incident_id", "statements", ["incident_id"])
    op.create_index("ix_statements_public", "statements", ["status", "drill", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_statements_public", table_name="statements")
    op.drop_index("ix_statements_incident_id", table_name="statements")
    op.drop_table("statements")
