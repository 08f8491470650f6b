"""the review meeting (复盘会), plan revisions a review proposes, and drill requests

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 15:00:00

``postmortems`` gains its meeting: the window's end, the time set, who set it, how many
times, and when the meeting sweep next has work on it. ``postmortem_plan_revisions`` keeps
proposed playbook files; ``drill_requests`` the drills a review asks for.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meeting_by", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("meeting_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("meeting_set_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("meeting_sets", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("meeting_sweep_at", UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            "fk_postmortems_meeting_set_by_users", "users", ["meeting_set_by"], ["id"]
        )
        batch_op.create_index("ix_postmortems_meeting_sweep_at", ["meeting_sweep_at"])
    op.create_table(
        "postmortem_plan_revisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("playbook_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("playbook_file", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("finding", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("proposed_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("proposed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    )
    op.create_index(
        "ix_postmortem_plan_revisions_incident_id", "postmortem_plan_revisions", ["incident_id"]
    )
    op.create_table(
        "drill_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("playbook_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("wanted_by", sa.Date(), nullable=False),
        sa.Column(
            "revision_id",
            sa.Integer(),
            sa.ForeignKey("postmortem_plan_revisions.id"),
            nullable=True,
        ),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("scheduled_for", UTCDateTime(), nullable=True),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_drill_requests_incident_id", "drill_requests", ["incident_id"])
    op.create_index("ix_drill_requests_state", "drill_requests", ["state", "wanted_by"])


def downgrade() -> None:
    op.drop_index("ix_drill_requests_state", table_name="drill_requests")
    op.drop_index("ix_drill_requests_incident_id", table_name="drill_requests")
    op.drop_table("drill_requests")
    op.drop_index(
        "ix_postmortem_plan_revisions_incident_id", table_name="postmortem_plan_revisions"
    )
    op.drop_table("postmortem_plan_revisions")
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.drop_index("ix_postmortems_meeting_sweep_at")
        batch_op.drop_constraint("fk_postmortems_meeting_set_by_users", type_="foreignkey")
        batch_op.drop_column("meeting_sweep_at")
        batch_op.drop_column("meeting_sets")
        batch_op.drop_column("meeting_set_by")
        batch_op.drop_column("meeting_at")
        batch_op.drop_column("meeting_by")
