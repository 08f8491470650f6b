"""The review meeting (复盘会): held within the playbook's window of working days after the
resolution, counted on the organisation's clock; set by the commander or a duty manager, the
roster invited by SMS and email with the time on each person's clock, reminded before it by a
sweep; a window that ends unset is told to the duty managers. Each message once, with two
workers too."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.postmortems import flows, meetings
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_incident, make_user

# The clock starts on Monday 23 November 2026, 09:00 in Shanghai; product recalls hold the
# meeting within 3 working days: by the end of Thursday the 26th, Shanghai time.
WINDOW_END = "2026-11-26T16:00:00Z"
LAST_MINUTE = "2026-11-26T23:59:00+08:00"
NEXT_DAY = "2026-11-27T00:00:00+08:00"  # still the 26th in UTC, but Friday in Shanghai


@pytest.fixture
def in_review(client, cast, auth, frozen_clock):
    response = client.post(
        f"{cast.path}/status", json={"status": "resolved"}, headers=auth(cast.duty)
    )
    assert response.status_code == 200, response.text
    return cast


def _set(client, cast, auth, at, who=None):
    return client.put(
        f"{cast.path}/review/meeting", json={"meeting_at": at}, headers=auth(who or cast.commander)
    )


def _messages(session) -> list[DirectMessage]:
    query = select(DirectMessage).where(DirectMessage.source == meetings.MEETING_SOURCE)
    return list(session.exec(query.order_by(col(DirectMessage.id))))


def _contactable_attendees(session, cast) -> list[User]:
    return [
        person
        for person in flows.attendees(session, incident=cast.incident)
        if person.phone and person.email
    ]


def test_the_window_runs_in_working_days_on_the_organisation_s_clock(
    client, session, in_review, auth
):
    cast = in_review
    meeting = client.get(f"{cast.path}/review", headers=auth(cast.viewer)).json()["meeting"]
    assert meeting["within_working_days"] == 3
    assert meeting["by"] == WINDOW_END and meeting["at"] is None
    refused = _set(client, cast, auth, NEXT_DAY)
    assert refused.status_code == 422
    assert refused.json()["field"] == "meeting_at"
    assert "outside the review meeting window" in refused.json()["detail"]
    assert "2026-11-26 (Asia/Shanghai)" in refused.json()["detail"]
    assert _messages(session) == []
    accepted = _set(client, cast, auth, LAST_MINUTE)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["at"] == "2026-11-26T15:59:00Z"
    assert accepted.json()["set_by"] == cast.commander.username


def test_a_meeting_in_the_past_or_set_by_someone_else_is_refused(client, session, in_review, auth):
    cast = in_review
    past = _set(client, cast, auth, "2026-11-23T08:00:00+08:00")
    assert past.status_code == 422 and "not in the future" in past.json()["detail"]
    # The quality lead sits on the roster but does not set the meeting.
    assert _set(client, cast, auth, LAST_MINUTE, who=cast.quality).status_code == 403
    naive = _set(client, cast, auth, "2026-11-25T10:00:00")
    assert naive.status_code == 422 and "meeting_at" in naive.text
    assert _messages(session) == []


def test_the_roster_is_invited_once_with_the_time_on_each_clock(client, session, in_review, auth):
    cast = in_review
    auth_service.update_user(
        session,
        user=cast.deputy,
        data=UserUpdate(timezone="Europe/Berlin", locale="en"),
        actor_id=None,
    )
    session.flush()
    assert _set(client, cast, auth, "2026-11-25T15:00:00+08:00").status_code == 200
    invited = _contactable_attendees(session, cast)
    assert cast.commander in invited and cast.deputy in invited
    sent = _messages(session)
    assert sorted((message.user_id, message.channel) for message in sent) == sorted(
        (person.id, channel) for person in invited for channel in ("sms", "email")
    )
    deputy_sms = next(m for m in sent if m.user_id == cast.deputy.id and m.channel == "sms")
    assert "2026-11-25 08:00 CET" in deputy_sms.body and cast.incident.number in deputy_sms.body
    commander_sms = next(m for m in sent if m.user_id == cast.commander.id and m.channel == "sms")
    assert "2026-11-25 15:00 CST" in commander_sms.body and "复盘会" in commander_sms.body
    # The same time again invites no one; a new time invites everyone again, as moved.
    assert _set(client, cast, auth, "2026-11-25T15:00:00+08:00").status_code == 200
    assert len(_messages(session)) == len(sent)
    assert _set(client, cast, auth, "2026-11-25T16:00:00+08:00").status_code == 200
    moved = _messages(session)[len(sent) :]
    assert len(moved) == len(sent)
    assert all("moved" in m.body.lower() or "变更" in m.body for m in moved)
    kinds = session.exec(
        select(TimelineEvent.data)
        .where(TimelineEvent.kind == meetings.MEETING_SET)
        .order_by(col(TimelineEvent.id))
    ).all()
    assert [entry["moved"] for entry in kinds] == [False, True]


def test_attendees_are_reminded_once_before_the_meeting(
    client, session, in_review, auth, frozen_clock
):
    cast = in_review
    assert _set(client, cast, auth, "2026-11-25T15:00:00+08:00").status_code == 200
    invitations = len(_messages(session))
    frozen_clock.set(datetime(2026, 11, 25, 5, 59, tzinfo=UTC))  # 13:59 in Shanghai
    assert flows.sweep_meetings(session) == 0
    frozen_clock.advance(timedelta(minutes=1))
    assert flows.sweep_meetings(session) == 1
    assert flows.sweep_meetings(session) == 0
    reminders = _messages(session)[invitations:]
    assert len(reminders) == invitations
    assert all("提醒" in m.body or "eminder" in m.body for m in reminders)
    reminded = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == meetings.MEETING_REMINDED)
    ).all()
    assert len(reminded) == 1


def test_a_window_ending_unset_is_told_to_the_duty_managers(
    client, session, in_review, auth, frozen_clock
):
    cast = in_review
    managers = [person for person in flows.duty_managers(session) if person.phone or person.email]
    assert cast.duty in managers
    frozen_clock.set(datetime(2026, 11, 26, 15, 59, tzinfo=UTC))  # 23:59 in Shanghai
    assert flows.sweep_meetings(session) == 0
    frozen_clock.advance(timedelta(minutes=1))
    assert flows.sweep_meetings(session) == 1
    assert flows.sweep_meetings(session) == 0
    told = _messages(session)
    assert {message.user_id for message in told} == {person.id for person in managers}
    assert all(cast.incident.number in message.body for message in told)
    meeting = client.get(f"{cast.path}/review", headers=auth(cast.viewer)).json()["meeting"]
    assert meeting["late"] is True
    # Late, it can still be set, at any later time; the timeline says it is late.
    assert _set(client, cast, auth, "2026-11-30T10:00:00+08:00").status_code == 200
    entry = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == meetings.MEETING_SET)
    ).one()
    assert entry.data["late"] is True


def test_two_workers_remind_once(fresh_database, shipped_playbooks, frozen_clock):
    if fresh_database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    engine = fresh_database.engine
    with db.session_scope(engine) as session:
        duty = make_user(session, Role.duty_manager, contactable=True)
        incident = make_incident(session, registry=shipped_playbooks, actor=duty)
        incident_flows.transition(
            session,
            incident=incident,
            change=StatusChange(status=IncidentStatus.resolved),
            actor=duty,
        )
        assert incident.status == IncidentStatus.in_review
    frozen_clock.advance(timedelta(days=4))  # past the window, nothing set
    first = Session(engine, expire_on_commit=False)
    second = Session(engine, expire_on_commit=False)
    try:
        assert flows.sweep_meetings(first) == 1  # holds the review's row lock
        assert flows.sweep_meetings(second) == 0
        first.commit()
        second.commit()
        assert flows.sweep_meetings(second) == 0
        second.commit()
    finally:
        first.close()
        second.close()
    with Session(engine) as check:
        told = check.exec(
            select(DirectMessage).where(DirectMessage.source == meetings.MEETING_SOURCE)
        ).all()
        assert len(told) == 2  # the one duty manager, by SMS and email
        assert (
            len(
                check.exec(
                    select(TimelineEvent).where(TimelineEvent.kind == meetings.MEETING_MISSED)
                ).all()
            )
            == 1
        )


def test_a_review_closed_before_its_window_ended_calls_no_one(
    client, session, in_review, auth, frozen_clock
):
    cast = in_review
    # Closed as if its checklist were done and its review approved (tested elsewhere).
    cast.incident.status = IncidentStatus.closed
    session.add(cast.incident)
    session.flush()
    frozen_clock.set(datetime(2026, 11, 27, 1, tzinfo=UTC))
    assert flows.sweep_meetings(session) == 1
    assert flows.sweep_meetings(session) == 0
    assert _messages(session) == []
    assert (
        session.exec(
            select(TimelineEvent).where(TimelineEvent.kind == meetings.MEETING_MISSED)
        ).all()
        == []
    )
