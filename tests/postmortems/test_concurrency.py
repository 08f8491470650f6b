"""Two workers sweeping follow-up reminders at once say each overdue step once."""

from datetime import date, timedelta

import pytest
from sqlmodel import Session, func, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import IncidentDeclare, Scope, StatusChange
from incident_cmd.postmortems import followups
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_playbook_teams, make_user


def test_two_sweepers_remind_each_step_once(fresh_database, shipped_playbooks, frozen_clock):
    if fresh_database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    engine = fresh_database.engine
    with db.session_scope(engine) as session:
        make_playbook_teams(session, shipped_playbooks.get("service-outage").playbook)
        duty = make_user(session, Role.duty_manager)
        incident = incident_flows.declare(
            session,
            registry=shipped_playbooks,
            data=IncidentDeclare(
                playbook="service-outage", title="outage", severity="sev1", scope=Scope()
            ),
            actor=duty,
        )
        incident_flows.transition(
            session,
            incident=incident,
            change=StatusChange(status=IncidentStatus.resolved),
            actor=duty,
        )
        for title in ("Add a second line", "Rehearse the failover"):
            followups.add_followup(
                session,
                incident=incident,
                title=title,
                owner=auth_service.get_user(session, user_id=duty.id),
                due_on=date(2026, 11, 23),
                actor=duty,
                may_edit=True,
            )
    frozen_clock.advance(timedelta(days=1))
    first = Session(engine, expire_on_commit=False)
    second = Session(engine, expire_on_commit=False)
    try:
        assert followups.remind_followups(first) == 2  # holds its row locks
        assert followups.remind_followups(second) == 0
        first.commit()
        second.commit()
        assert followups.remind_followups(second) == 0
    finally:
        first.close()
        second.close()
    with Session(engine) as check:
        count = check.exec(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.kind == "postmortem.followup_overdue")
        ).one()
    assert count == 2
