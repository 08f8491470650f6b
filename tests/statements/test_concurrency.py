"""People publishing at the same moment: each statement gets its own version, and a
statement published twice at once is published once."""

import threading

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role, User
from incident_cmd.errors import Conflict
from incident_cmd.statements import flows
from incident_cmd.statements.models import Statement
from incident_cmd.statements.schemas import StatementDraft
from tests.factories import make_incident, make_user


def approved_statements(engine, registry, count: int) -> tuple[int, list[int], list[int]]:
    """An incident with ``count`` approved statements (committed), and spokespeople's ids."""
    with db.session_scope(engine) as session:
        incident = make_incident(session, registry=registry)
        spokespeople = [make_user(session, Role.comms) for _ in range(count)]
        approver = make_user(session, Role.duty_manager)
        ids = []
        for speaker in spokespeople:
            statement = flows.draft(
                session,
                incident_id=incident.id,
                data=StatementDraft(stage="identified"),
                actor=speaker,
            )
            flows.approve(
                session, incident_id=incident.id, statement_id=statement.id, actor=approver
            )
            ids.append(statement.id)
        return incident.id, ids, [speaker.id for speaker in spokespeople]


def publish_at_once(engine, incident_id, pairs):
    """Each (statement id, user id) published in its own thread and transaction, together."""
    barrier = threading.Barrier(len(pairs))
    outcomes: list[object] = []

    def worker(statement_id, user_id):
        barrier.wait()
        try:
            with db.session_scope(engine) as session:
                actor = session.get_one(User, user_id)
                flows.publish(
                    session, incident_id=incident_id, statement_id=statement_id, actor=actor
                )
            outcomes.append("published")
        except BaseException as exc:  # collected and asserted by the test
            outcomes.append(exc)

    threads = [threading.Thread(target=worker, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_statements_published_together_get_distinct_versions(fresh_database, shipped_playbooks):
    engine = fresh_database.engine
    incident_id, ids, speakers = approved_statements(engine, shipped_playbooks, 4)

    outcomes = publish_at_once(engine, incident_id, list(zip(ids, speakers, strict=True)))

    assert outcomes == ["published"] * 4
    with db.session_scope(engine) as session:
        versions = session.exec(
            select(Statement.version).where(Statement.incident_id == incident_id)
        ).all()
    assert sorted(versions) == [1, 2, 3, 4]


def test_one_statement_published_twice_at_once_is_published_once(fresh_database, shipped_playbooks):
    engine = fresh_database.engine
    incident_id, [statement_id], [speaker] = approved_statements(engine, shipped_playbooks, 1)

    outcomes = publish_at_once(engine, incident_id, [(statement_id, speaker)] * 2)

    assert outcomes.count("published") == 1
    [refusal] = [outcome for outcome in outcomes if outcome != "published"]
    assert isinstance(refusal, Conflict)
    with db.session_scope(engine) as session:
        statement = session.get_one(Statement, statement_id)
        assert statement.version == 1
        # The refused publication took no version with it.
        other = flows.draft(
            session,
            incident_id=incident_id,
            data=StatementDraft(stage="monitoring"),
            actor=session.get_one(User, speaker),
        )
        approver = make_user(session, Role.duty_manager)
        flows.approve(session, incident_id=incident_id, statement_id=other.id, actor=approver)
        flows.publish(session, incident_id=incident_id, statement_id=other.id, actor=approver)
        assert other.version == 2
