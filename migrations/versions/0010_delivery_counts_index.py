"""deliveries counted by campaign and status from an index alone

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:30:00

The room, the board and the finishing sweep count a campaign's deliveries by status while it
sends; (campaign_id, status) answers those counts without reading the rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_campaign_status", "deliveries", ["campaign_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_campaign_status", table_name="deliveries")
