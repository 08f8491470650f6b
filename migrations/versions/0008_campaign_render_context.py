"""campaigns keep their render context; deliveries their recipient's name and locale

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:00:00

The bulk lane renders from what a campaign and its deliveries hold, never from the incident
or the customer directory; rows made before this are filled in from those tables once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
        batch_op.add_column(
            sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
    campaigns = sa.table(
        "campaigns", sa.column("id"), sa.column("incident_id"), sa.column("context", sa.JSON())
    )
    incidents = sa.table("incidents", sa.column("id"), sa.column("number"), sa.column("title"))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(campaigns.c.id, incidents.c.number, incidents.c.title).select_from(
            campaigns.outerjoin(incidents, incidents.c.id == campaigns.c.incident_id)
        )
    ).all()
    for campaign_id, number, title in rows:
        connection.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(context={"incident_number": number, "incident_title": title})
        )
    op.execute(
        "UPDATE deliveries SET name = (SELECT name FROM customers "
        "WHERE customers.id = deliveries.customer_id), locale = (SELECT locale FROM customers "
        "WHERE customers.id = deliveries.customer_id)"
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.alter_column("context", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "name", existing_type=sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False
        )
        batch_op.alter_column(
            "locale", existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("locale")
        batch_op.drop_column("name")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("context")
