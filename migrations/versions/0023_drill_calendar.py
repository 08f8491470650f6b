"""the drill calendar: drills scheduled by cadence, by hand or for a review's request

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 10:00:00

``drill_schedules`` holds drills on the calendar: the scenario, when, its controller and
participants, the period the cadence job made it for (unique per scenario, so two workers
make it once), the drill request it answers, the next reminder and the run it became.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drill_schedules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scenario_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("occurrence", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("controller_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("drill_requests.id"), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("remind_at", UTCDateTime(), nullable=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drill_runs.id"), nullable=True),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("scenario_key", "occurrence"),
    )
    op.create_index("ix_drill_schedules_scenario_key", "drill_schedules", ["scenario_key"])
    op.create_index("ix_drill_schedules_state_remind", "drill_schedules", ["state", "remind_at"])


def downgrade() -> None:
    op.drop_index("ix_drill_schedules_state_remind", table_name="drill_schedules")
    op.drop_index("ix_drill_schedules_scenario_key", table_name="drill_schedules")
    op.drop_table("drill_schedules")
