"""the inbound SMS inbox, and unlocked number series on PostgreSQL

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 11:50:00

The Twilio webhook keeps each inbound SMS in ``sms_inbox`` and the worker files it. On
PostgreSQL, ticket and incident numbers come from one sequence per series ("counter:TKT-2026")
instead of a row locked until the intake commits; the series counted so far continue where
``sequence_counters`` left them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The human-readable series (numbering.next_number); the other counters stay rows.
SERIES = ("TKT-%", "INC-%")


def upgrade() -> None:
    op.create_table(
        "sms_inbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("from_address", sa.Text(), nullable=False),
        sa.Column("to_address", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.UniqueConstraint("provider_id"),
    )
    op.create_index("ix_sms_inbox_waiting", "sms_inbox", ["processed_at", "id"])
    op.create_index("ix_sms_inbox_sender", "sms_inbox", ["from_address", "processed_at", "id"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    quote = bind.dialect.identifier_preparer.quote
    counters = bind.execute(
        sa.text("SELECT name, value FROM sequence_counters WHERE name LIKE :a OR name LIKE :b"),
        {"a": SERIES[0], "b": SERIES[1]},
    ).all()
    for name, value in counters:
        op.execute(f"CREATE SEQUENCE {quote('counter:' + name)} START WITH {value + 1}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        quote = bind.dialect.identifier_preparer.quote
        sequences = bind.execute(
            sa.text(
                "SELECT sequencename, last_value FROM pg_sequences "
                "WHERE schemaname = current_schema() AND sequencename LIKE 'counter:%'"
            )
        ).all()
        for sequence, last_value in sequences:
            if last_value is not None:
                bind.execute(
                    sa.text(
                        "INSERT INTO sequence_counters (name, value) VALUES (:name, :value) "
                        "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
                    ),
                    {"name": sequence.removeprefix("counter:"), "value": last_value},
                )
            op.execute(f"DROP SEQUENCE {quote(sequence)}")
    op.drop_index("ix_sms_inbox_sender", table_name="sms_inbox")
    op.drop_index("ix_sms_inbox_waiting", table_name="sms_inbox")
    op.drop_table("sms_inbox")
