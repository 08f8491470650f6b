"""drill evaluation: evaluators, objective ratings, hot-wash notes, improvement plan items

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-12 09:00:00

After HSEEP: ``drill_ratings`` holds each evaluator's P/S/M/U rating of each objective of a
run (``drill_evaluators`` the people named to rate beyond duty managers and admins),
``drill_hotwash_notes`` the participants' notes right after, and ``drill_improvements`` ties
each improvement plan item to the review follow-up that tracks it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drill_evaluators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drill_runs.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("named_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("named_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "user_id"),
    )
    op.create_table(
        "drill_ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drill_runs.id"), nullable=False),
        sa.Column("objective_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("evaluator_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("rating", sa.String(length=1), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("rated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "objective_key", "evaluator_id"),
    )
    op.create_table(
        "drill_hotwash_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drill_runs.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_drill_hotwash_notes_run_id", "drill_hotwash_notes", ["run_id"])
    op.create_table(
        "drill_improvements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("drill_runs.id"), nullable=False),
        sa.Column(
            "followup_id",
            sa.Integer(),
            sa.ForeignKey("postmortem_followups.id"),
            nullable=False,
        ),
        sa.Column("objective_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.UniqueConstraint("followup_id"),
    )
    op.create_index("ix_drill_improvements_run_id", "drill_improvements", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_drill_improvements_run_id", table_name="drill_improvements")
    op.drop_table("drill_improvements")
    op.drop_index("ix_drill_hotwash_notes_run_id", table_name="drill_hotwash_notes")
    op.drop_table("drill_hotwash_notes")
    op.drop_table("drill_ratings")
    op.drop_table("drill_evaluators")
