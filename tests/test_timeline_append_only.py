"""The timeline is append-only in the database itself, not only by the code's habit."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from incident_cmd.timeline import service as timeline


@pytest.fixture
def event_id(fresh_database) -> int:
    with Session(fresh_database.engine) as session:
        event = timeline.append(
            session,
            subject_type="incident",
            subject_id=1,
            kind="incident.declared",
            summary="declared",
            actor_id=None,
        )
        session.commit()
        return event.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE timeline_events SET summary = 'rewritten' WHERE id = :id",
        "DELETE FROM timeline_events WHERE id = :id",
    ],
)
def test_a_timeline_row_cannot_be_changed_or_removed(fresh_database, event_id, statement):
    with (
        fresh_database.engine.connect() as connection,
        pytest.raises(DatabaseError, match="append-only"),
    ):
        connection.execute(text(statement), {"id": event_id})
    with fresh_database.engine.connect() as connection:
        assert (
            connection.execute(
                text("SELECT summary FROM timeline_events WHERE id = :id"), {"id": event_id}
            ).scalar_one()
            == "declared"
        )


def test_the_timeline_cannot_be_truncated_on_postgres(fresh_database, event_id):
    if fresh_database.backend != "postgres":
        pytest.skip("SQLite has no TRUNCATE")
    with (
        fresh_database.engine.connect() as connection,
        pytest.raises(DatabaseError, match="append-only"),
    ):
        # CASCADE: a plain TRUNCATE is already refused for the stars that reference entries;
        # emptying both at once must still meet the trigger.
        connection.execute(text("TRUNCATE timeline_events CASCADE"))
