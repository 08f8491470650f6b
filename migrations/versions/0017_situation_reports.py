"""situation reports to the command

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 12:30:00

Each report on an incident, kept as compiled and sent; a scheduled report names its cadence
step, unique per incident, so that several workers compile each step once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "situation_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("compiled_at", UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.UniqueConstraint("incident_id", "number"),
        sa.UniqueConstraint("incident_id", "due_at"),
    )
    op.create_index(
        "ix_situation_reports_incident_id", "situation_reports", ["incident_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_situation_reports_incident_id", table_name="situation_reports")
    op.drop_table("situation_reports")
