"""An overdue follow-up reminds its owner by SMS and email, in their language, besides the
timeline entry: once per reminder step (the due time, then each working day), with two
workers too; and the messages reach the SMTP server and Twilio through the direct lane."""

import asyncio
from datetime import date, timedelta

import pytest
from sqlmodel import Session, col, select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import Incident, IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.messaging.direct import direct_sender
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.postmortems import flows, followups
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_incident, make_user


def _sent(session) -> list[DirectMessage]:
    query = select(DirectMessage).where(DirectMessage.source == followups.FOLLOWUP_SOURCE)
    return list(session.exec(query.order_by(col(DirectMessage.id))))


def _followup(session, incident, owner, actor, title="Fit a thermal fuse"):
    return followups.add_followup(
        session,
        incident=incident,
        title=title,
        owner=owner,
        due_on=date(2026, 11, 24),  # Tuesday; late from Wednesday 00:00 in Shanghai
        actor=actor,
        may_edit=True,
    )


def _resolve(session, incident, actor) -> None:
    incident_flows.transition(
        session,
        incident=incident,
        change=StatusChange(status=IncidentStatus.resolved),
        actor=actor,
    )


def test_each_reminder_step_messages_the_owner_once(session, cast, frozen_clock):
    _resolve(session, cast.incident, cast.duty)
    _followup(session, cast.incident, cast.deputy, cast.duty)
    frozen_clock.advance(timedelta(days=1, hours=16))  # Wednesday 01:00 in Shanghai
    assert followups.remind_followups(session) == 1
    assert followups.remind_followups(session) == 0
    first = _sent(session)
    assert sorted(message.channel for message in first) == ["email", "sms"]
    assert {message.address for message in first} == {cast.deputy.phone, cast.deputy.email}
    sms = next(message for message in first if message.channel == "sms")
    assert "Fit a thermal fuse" in sms.body and "2026-11-24" in sms.body
    assert f"/incidents/{cast.incident.id}/review" in sms.body
    # The next working day is the next step: messaged again, once.
    frozen_clock.advance(timedelta(days=1))
    assert followups.remind_followups(session) == 1
    assert followups.remind_followups(session) == 0
    assert len(_sent(session)) == 4
    assert (
        "逾期 1 个工作日" in _sent(session)[-2].body or "1 working days" in _sent(session)[-2].body
    )
    overdue = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == followups.FOLLOWUP_OVERDUE)
    ).all()
    assert len(overdue) == 2


def test_the_owner_reads_it_in_their_language(session, cast, frozen_clock):
    _resolve(session, cast.incident, cast.duty)
    owner = make_user(session, Role.responder, contactable=True, locale="en")
    _followup(session, cast.incident, owner, cast.duty)
    frozen_clock.advance(timedelta(days=2))
    followups.remind_followups(session)
    email = next(message for message in _sent(session) if message.channel == "email")
    assert email.subject == f'{cast.incident.number}: follow-up "Fit a thermal fuse" is overdue'
    assert email.html is not None and "mark it done on the review page" in email.html


def test_two_workers_message_each_step_once(fresh_database, shipped_playbooks, frozen_clock):
    if fresh_database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    engine = fresh_database.engine
    with db.session_scope(engine) as session:
        duty = make_user(session, Role.duty_manager, contactable=True)
        incident = make_incident(session, registry=shipped_playbooks, actor=duty)
        _resolve(session, incident, duty)
        for title in ("Add a second line", "Rehearse the failover"):
            _followup(session, incident, duty, duty, title)
    frozen_clock.advance(timedelta(days=2))
    first = Session(engine, expire_on_commit=False)
    second = Session(engine, expire_on_commit=False)
    try:
        assert followups.remind_followups(first) == 2  # holds its row locks
        assert followups.remind_followups(second) == 0
        first.commit()
        second.commit()
        assert followups.remind_followups(second) == 0
        second.commit()
    finally:
        first.close()
        second.close()
    with Session(engine) as check:
        assert len(_sent(check)) == 4  # two follow-ups, by SMS and email each


def _drain() -> None:
    async def main() -> None:
        sender = direct_sender(db.get_engine())
        try:
            await sender.drain()
        finally:
            await sender.close()

    asyncio.run(main())


def test_invitations_and_reminders_reach_the_smtp_server_and_twilio_once(
    world, smtp, twilio, frozen_clock
):
    """The meeting's invitations and a follow-up's reminder, at the sinks the lane sends to."""
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        incident = make_incident(session, registry=world.registry, actor=duty)
        _resolve(session, incident, duty)
        incident_id = incident.id
        _followup(session, incident, duty, duty)
    _drain()  # the pages of the declaration go first
    mails_before, texts_before = len(smtp.messages), len(twilio.fake.state.messages)
    with db.session_scope() as session:
        flows.set_meeting(
            session,
            incident_id=incident_id,
            meeting_at=frozen_clock() + timedelta(days=1),
            actor=world.user(session, world.duty_manager),
        )
        people = [
            (person.email, person.phone)
            for person in flows.attendees(session, incident=session.get_one(Incident, incident_id))
            if person.phone and person.email
        ]
        duty_email = world.user(session, world.duty_manager).email
    assert people
    _drain()
    _drain()  # a second pass finds nothing more to send
    mails = smtp.messages[mails_before:]
    texts = list(twilio.fake.state.messages.values())[texts_before:]
    assert sorted(to for tos, _ in mails for to in tos) == sorted(email for email, _ in people)
    assert sorted(text["to"] for text in texts) == sorted(phone for _, phone in people)
    assert all(
        "复盘会" in mail["Subject"] or "review meeting" in mail["Subject"] for _, mail in mails
    )
    frozen_clock.advance(timedelta(days=2))
    with db.session_scope() as session:
        assert followups.remind_followups(session) == 1
    _drain()
    _drain()
    late = smtp.messages[mails_before + len(mails) :]
    assert [tos for tos, _ in late] == [[duty_email]]
    assert "Fit a thermal fuse" in late[0][1]["Subject"]
