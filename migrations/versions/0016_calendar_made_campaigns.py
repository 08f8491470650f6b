"""a campaign the calendar made has no creator

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 12:00:00

The half-yearly satisfaction survey (seeds 001 8-2-3) is a campaign the scheduler creates
and approves by itself, so ``campaigns.created_by`` may be null.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.alter_column("created_by", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Campaigns the calendar made have no person to name: they go with the downgrade.
    op.execute(
        "DELETE FROM deliveries WHERE campaign_id IN "
        "(SELECT id FROM campaigns WHERE created_by IS NULL)"
    )
    op.execute("DELETE FROM campaigns WHERE created_by IS NULL")
    with op.batch_alter_table("campaigns") as batch:
        batch.alter_column("created_by", existing_type=sa.Integer(), nullable=False)
