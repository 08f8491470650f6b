"""the post-incident review: its written sections and approval, follow-up actions, and the
review checklist as incident tasks

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 12:30:00

The playbook's review checklist becomes incident tasks marked ``review`` when an incident is
resolved; ``postmortems`` keeps the written review and who approved it;
``postmortem_followups`` the actions agreed, each reminded by the sweep at ``remind_at``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("review", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "postmortems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("causes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("went_well", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("went_badly", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("lucky", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.UniqueConstraint("incident_id"),
    )
    op.create_table(
        "postmortem_followups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("remind_at", UTCDateTime(), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
    )
    op.create_index("ix_postmortem_followups_incident_id", "postmortem_followups", ["incident_id"])
    op.create_index("ix_followups_remind", "postmortem_followups", ["remind_at"])


def downgrade() -> None:
    op.drop_index("ix_followups_remind", table_name="postmortem_followups")
    op.drop_index("ix_postmortem_followups_incident_id", table_name="postmortem_followups")
    op.drop_table("postmortem_followups")
    op.drop_table("postmortems")
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        batch_op.drop_column("review")
