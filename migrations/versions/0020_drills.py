"""drills: scenario runs and their injects; synthetic customers, drill tickets and signals

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-10 09:00:00

``drill_runs`` is one exercise of a scenario on its drill incident, ``drill_injects`` its
master scenario events list as rows with due times. A drill's made-up customers are marked
``customers.synthetic``, its complaints ``tickets.drill`` and the cluster they raise
``signals.drill``, so none of them is ever mistaken for (or mixed with) the real thing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("customers", "tickets", "signals"):
        column = "synthetic" if table == "customers" else "drill"
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.false())
            )
    op.create_table(
        "drill_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scenario_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scenario", sa.JSON(), nullable=False),
        sa.Column("objectives", sa.JSON(), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("controller_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("unresponsive", sa.JSON(), nullable=False),
        sa.UniqueConstraint("incident_id"),
    )
    op.create_index("ix_drill_runs_scenario_key", "drill_runs", ["scenario_key"])
    op.create_table(
        "drill_injects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drill_runs.id"), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("fired_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.UniqueConstraint("run_id", "key"),
    )
    op.create_index("ix_drill_injects_run_id", "drill_injects", ["run_id"])
    op.create_index("ix_drill_injects_state_due", "drill_injects", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_drill_injects_state_due", table_name="drill_injects")
    op.drop_index("ix_drill_injects_run_id", table_name="drill_injects")
    op.drop_table("drill_injects")
    op.drop_index("ix_drill_runs_scenario_key", table_name="drill_runs")
    op.drop_table("drill_runs")
    for table in ("signals", "tickets", "customers"):
        column = "synthetic" if table == "customers" else "drill"
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
