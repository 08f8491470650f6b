"""timeline stars: entries marked for the post-incident review

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:00:00

timeline_events refuses every change (0005), so a star is a row of its own, one per entry,
that unstarring deletes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incident_cmd.columns

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "timeline_stars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("starred_by", sa.Integer(), nullable=False),
        sa.Column("starred_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["timeline_events.id"]),
        sa.ForeignKeyConstraint(["starred_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("timeline_stars")
