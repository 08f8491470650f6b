"""timeline append only: the database itself refuses to change or remove a timeline row

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


REFUSAL = "timeline_events is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION timeline_events_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER timeline_events_append_only BEFORE UPDATE OR DELETE "
            "ON timeline_events FOR EACH ROW EXECUTE FUNCTION timeline_events_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER timeline_events_no_truncate BEFORE TRUNCATE "
            "ON timeline_events FOR EACH STATEMENT "
            "EXECUTE FUNCTION timeline_events_refuse_change()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER timeline_events_no_{operation.lower()} "
                f"BEFORE {operation} ON timeline_events "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER timeline_events_no_truncate ON timeline_events")
        op.execute("DROP TRIGGER timeline_events_append_only ON timeline_events")
        op.execute("DROP FUNCTION timeline_events_refuse_change()")
    else:
        op.execute("DROP TRIGGER timeline_events_no_update")
        op.execute("DROP TRIGGER timeline_events_no_delete")
