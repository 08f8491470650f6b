"""direct messages carry an email's one-click unsubscribe link

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:10:00

A subscriber's statement email names its unsubscribe link in List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058), as campaign emails do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("direct_messages") as batch:
        batch.add_column(sa.Column("unsubscribe_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("direct_messages") as batch:
        batch.drop_column("unsubscribe_url")
