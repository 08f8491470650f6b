"""sessions and login throttle: each token says where it was issued (API, login, page session)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="api")
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("kind", server_default=None)
    # The names login and the web page gave their tokens until now.
    op.execute("UPDATE api_tokens SET kind = 'login' WHERE name = 'login'")
    op.execute("UPDATE api_tokens SET kind = 'session' WHERE name = 'web login'")
    # Deactivation now revokes a user's tokens; tokens of users deactivated before must not
    # come back to life when the user is reactivated.
    op.execute(
        "UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL "
        "AND user_id IN (SELECT id FROM users WHERE NOT active)"
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("kind")
