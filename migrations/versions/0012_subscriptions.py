"""subscriptions of the public to statements, and the log their rate limits count

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:30:00

One subscription per channel, address and topic (incident:<id> or product:<model>), pending
until the address confirms. subscription_requests keeps a day of keyed digests (client
network address, address asked for) for the rate limits, no address in the clear.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import incident_cmd.columns

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("product", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("requested_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "unsubscribed_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "address", "topic"),
    )
    op.create_index("ix_subscriptions_incident", "subscriptions", ["incident_id", "status"])
    op.create_index("ix_subscriptions_product", "subscriptions", ["product", "status"])
    op.create_table(
        "subscription_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("requested_at", incident_cmd.columns.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_subscription_requests_client",
        "subscription_requests",
        ["client_digest", "requested_at"],
    )
    op.create_index(
        "ix_subscription_requests_address",
        "subscription_requests",
        ["address_digest", "requested_at"],
    )
    op.create_index(
        "ix_subscription_requests_requested_at", "subscription_requests", ["requested_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_subscription_requests_requested_at", table_name="subscription_requests")
    op.drop_index("ix_subscription_requests_address", table_name="subscription_requests")
    op.drop_index("ix_subscription_requests_client", table_name="subscription_requests")
    op.drop_table("subscription_requests")
    op.drop_index("ix_subscriptions_product", table_name="subscriptions")
    op.drop_index("ix_subscriptions_incident", table_name="subscriptions")
    op.drop_table("subscriptions")
