"""appeals against a ticket's result, each its own record

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 11:50:00

Seeds 001 六 (申诉处理流程): an appeal is registered, investigated by a designated handler and
answered. Its targets are SLA timers of the ticket (kinds appeal_response, appeal_answer),
which fit the timer kind column as it is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import incident_cmd.columns

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = incident_cmd.columns.UTCDateTime(timezone=True)
    op.create_table(
        "ticket_appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("appellant", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("grounds", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", moment, nullable=False),
        sa.Column("registered_at", moment, nullable=False),
        sa.Column("registered_by", sa.Integer(), nullable=True),
        sa.Column("team_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", moment, nullable=True),
        sa.Column("assigned_by", sa.Integer(), nullable=True),
        sa.Column("responded_at", moment, nullable=True),
        sa.Column("responded_in_time", sa.Boolean(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("answered_at", moment, nullable=True),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("answered_in_time", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.ForeignKeyConstraint(["registered_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["handler_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["assigned_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["answered_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ticket_appeals") as batch:
        batch.create_index("ix_ticket_appeals_ticket_id", ["ticket_id"], unique=False)
        batch.create_index(
            "ix_ticket_appeals_handler_status", ["handler_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_appeals") as batch:
        batch.drop_index("ix_ticket_appeals_handler_status")
        batch.drop_index("ix_ticket_appeals_ticket_id")
    op.drop_table("ticket_appeals")
