"""The drill calendar on the project clock: each scenario's cadence schedules its drills
once per occurrence (two workers too, across a half-year boundary, in the organisation's
zone); the reminders go a week and a day before, each once; a drill request from a review
becomes a scheduled drill, is moved, cancelled (the request open again) and started; a bad
cadence in a scenario file is refused at its file and line."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.config import get_settings
from incident_cmd.drills import calendar, flows
from incident_cmd.drills.loader import ScenarioInvalid, parse_scenario
from incident_cmd.drills.models import DrillRun, DrillSchedule, ScheduleState
from incident_cmd.drills.schema import Cadence
from incident_cmd.errors import Conflict, Invalid
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.messaging.direct import direct_sender
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.postmortems import drill_requests as postmortem_drill_requests
from incident_cmd.postmortems.models import DrillRequest, DrillRequestState
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_incident, make_user
from tests.plugins.drills import SMALL_SCENARIO


def _shanghai(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC) + timedelta(hours=-8)


def _schedules(session: Session) -> list[DrillSchedule]:
    return list(session.exec(select(DrillSchedule).order_by(col(DrillSchedule.id))))


def _kinds(session: Session, subject_type: str, subject_id: int) -> list[str]:
    return list(
        session.exec(
            select(TimelineEvent.kind)
            .where(
                TimelineEvent.subject_type == subject_type, TimelineEvent.subject_id == subject_id
            )
            .order_by(col(TimelineEvent.id))
        )
    )


def _messages(session: Session) -> list[DirectMessage]:
    query = select(DirectMessage).where(DirectMessage.source == calendar.SOURCE)
    return list(session.exec(query.order_by(col(DirectMessage.id))))


# --- the cadence ------------------------------------------------------------------------------


def test_periods_follow_the_organisations_zone_not_utc():
    cadence = Cadence(every_months=6, month=1, day=15)
    # 31 December 16:30 UTC is already 1 January in Shanghai: the first half of 2027.
    first = next(calendar.occurrences(cadence, datetime(2026, 12, 31, 16, 30, tzinfo=UTC)))
    assert first == ("2027-01", _shanghai(2027, 1, 15))
    before = next(calendar.occurrences(cadence, datetime(2026, 12, 31, 15, 30, tzinfo=UTC)))
    assert before[0] == "2026-07"


def test_a_drill_falling_on_a_holiday_moves_to_the_next_working_day():
    # 15 September 2027 is the Mid-Autumn Festival.
    cadence = Cadence(every_months=6, month=3, day=15)
    assert calendar.occurrence_at(cadence, 2027, 7) == _shanghai(2027, 9, 16)


def test_the_cadence_schedules_each_occurrence_once_across_the_half_year(world, frozen_clock):
    """battery-recall: twice a year, 15 March and 15 September at 10:00, a month ahead."""
    frozen_clock.set(_shanghai(2027, 2, 13, 9))  # 31 days before: not yet
    with db.session_scope() as session:
        assert flows.schedule_by_cadence(session) == 0
    frozen_clock.set(_shanghai(2027, 2, 14, 9))
    for expected in (1, 0):
        with db.session_scope() as session:
            assert flows.schedule_by_cadence(session) == expected
    # The first half-year's drill has been; the second half's comes within a month of 16
    # September (the 15th is a holiday), once however often the job runs.
    frozen_clock.set(_shanghai(2027, 8, 20))
    for expected in (1, 0):
        with db.session_scope() as session:
            assert flows.schedule_by_cadence(session) == expected
    with db.session_scope() as session:
        made = [row for row in _schedules(session) if row.scenario_key == "battery-recall"]
        assert [(row.occurrence, row.at) for row in made] == [
            ("2027-01", _shanghai(2027, 3, 15)),
            ("2027-07", _shanghai(2027, 9, 16)),
        ]
        assert all(row.created_by is None and row.state == "scheduled" for row in made)
        assert _kinds(session, calendar.SUBJECT, made[0].id) == [calendar.SCHEDULED]


def test_two_workers_schedule_an_occurrence_once(fresh_database, frozen_clock, monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_DATABASE_URL", fresh_database.url)
    frozen_clock.set(_shanghai(2027, 2, 20))
    first = Session(fresh_database.engine, expire_on_commit=False)
    second = Session(fresh_database.engine, expire_on_commit=False)
    try:
        made = flows.schedule_by_cadence(first)
        first.commit()
        # The second worker read no row before inserting: the unique key turns it away.
        assert flows.schedule_by_cadence(second) == 0
        second.commit()
    finally:
        first.close()
        second.close()
    with Session(fresh_database.engine) as check:
        rows = _schedules(check)
        assert made == len(rows) == 1
        assert rows[0].scenario_key == "battery-recall" and rows[0].occurrence == "2027-01"


def test_the_cadence_names_its_controller_and_participants(
    world, frozen_clock, tmp_path, monkeypatch
):
    with db.session_scope() as session:
        commander = make_user(session, Role.responder, contactable=True)
        commander_name = commander.username
    drills = tmp_path / "drills"
    drills.mkdir()
    (drills / "small.yaml").write_text(
        SMALL_SCENARIO
        + "cadence:\n  every_months: 3\n  month: 2\n  day: 1\n  days_ahead: 90\n"
        + f"  controller: {world.duty_manager}\n"
        + f"  participants: [{commander_name}, nobody.here]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("INCIDENT_CMD_DRILL_DIR", str(drills))
    get_settings.cache_clear()
    with db.session_scope() as session:
        # From 23 November 2026, within 90 days: 1 February 2027 (the January quarter).
        assert flows.schedule_by_cadence(session) == 1
        (row,) = _schedules(session)
        assert row.occurrence == "2027-01" and row.at == _shanghai(2027, 2, 1)
        assert row.controller_id == world.user(session, world.duty_manager).id
        assert row.participants == [commander.id]
        (event,) = session.exec(
            select(TimelineEvent).where(TimelineEvent.subject_type == calendar.SUBJECT)
        )
        assert event.data["unknown"] == ["nobody.here"]


# --- reminders --------------------------------------------------------------------------------


def _by_hand(session, world, at, *participants) -> DrillSchedule:
    duty = world.user(session, world.duty_manager)
    return flows.schedule_drill(
        session,
        playbooks=world.registry,
        scenario_key="delivery-delay",
        at=at,
        controller=duty,
        participants=list(participants),
        actor=duty,
    )


def test_reminders_go_a_week_and_a_day_before_each_once(world, frozen_clock):
    start = frozen_clock()
    with db.session_scope() as session:
        person = make_user(session, Role.responder, contactable=True, locale="en")
        row = _by_hand(session, world, start + timedelta(days=10), person)
        schedule_id, at = row.id, row.at
        assert flows.remind_scheduled(session) == 0
    frozen_clock.set(at - timedelta(days=7))
    for expected in (1, 0):
        with db.session_scope() as session:
            assert flows.remind_scheduled(session) == expected
    with db.session_scope() as session:
        week = _messages(session)
        # The controller and the participant, by SMS and email each.
        assert len(week) == 4 and all(message.drill for message in week)
        sms = next(m for m in week if m.channel == "sms" and m.user_id == person.id)
        assert sms.body.startswith("[DRILL]") and "in 7 days" in sms.body
        assert "/drills/calendar" in sms.body
    frozen_clock.set(at - timedelta(hours=20))  # the day before, the sweep a little late
    for expected in (1, 0):
        with db.session_scope() as session:
            assert flows.remind_scheduled(session) == expected
    frozen_clock.set(at + timedelta(hours=1))
    with db.session_scope() as session:
        assert flows.remind_scheduled(session) == 0
        assert len(_messages(session)) == 8
        assert _kinds(session, calendar.SUBJECT, schedule_id) == [
            calendar.SCHEDULED,
            calendar.REMINDED,
            calendar.REMINDED,
        ]


def test_a_sweep_that_missed_the_week_sends_only_the_day_before(world, frozen_clock):
    with db.session_scope() as session:
        row = _by_hand(session, world, frozen_clock() + timedelta(days=10))
        at = row.at
    frozen_clock.set(at - timedelta(hours=12))
    with db.session_scope() as session:
        assert flows.remind_scheduled(session) == 1
        assert flows.remind_scheduled(session) == 0
        (event,) = session.exec(
            select(TimelineEvent).where(TimelineEvent.kind == calendar.REMINDED)
        )
        assert event.data["days"] == 1


def test_moving_tells_everyone_and_starts_the_reminders_over(world, frozen_clock):
    with db.session_scope() as session:
        first = make_user(session, Role.responder, contactable=True)
        second = make_user(session, Role.comms, contactable=True)
        row = _by_hand(session, world, frozen_clock() + timedelta(days=8), first)
        schedule_id, at = row.id, row.at
    frozen_clock.set(at - timedelta(days=7))
    with db.session_scope() as session:
        assert flows.remind_scheduled(session) == 1
        before = len(_messages(session))
        duty = world.user(session, world.duty_manager)
        moved = flows.move_scheduled(
            session,
            playbooks=world.registry,
            schedule_id=schedule_id,
            at=at + timedelta(days=14),
            controller=duty,
            participants=[second],
            actor=duty,
        )
        assert moved.remind_at == at + timedelta(days=7)
        told = _messages(session)[before:]
        # Who was in it and who is now: the controller, the one dropped and the one added.
        assert {m.user_id for m in told} == {duty.id, first.id, second.id}
        assert all(m.label.startswith("drill moved") for m in told)
    frozen_clock.set(at + timedelta(days=7))
    with db.session_scope() as session:
        assert flows.remind_scheduled(session) == 1
        assert _kinds(session, calendar.SUBJECT, schedule_id)[-2:] == [
            calendar.MOVED,
            calendar.REMINDED,
        ]


def test_a_cancelled_drill_reminds_no_one_and_says_it_is_off(world, frozen_clock):
    with db.session_scope() as session:
        row = _by_hand(session, world, frozen_clock() + timedelta(days=10))
        duty = world.user(session, world.duty_manager)
        flows.cancel_scheduled(session, playbooks=world.registry, schedule_id=row.id, actor=duty)
        cancelled = session.get_one(DrillSchedule, row.id)
        assert cancelled.state == ScheduleState.cancelled and cancelled.remind_at is None
        assert {m.channel for m in _messages(session)} == {"sms", "email"}
        with pytest.raises(Conflict):
            flows.cancel_scheduled(
                session, playbooks=world.registry, schedule_id=row.id, actor=duty
            )
    frozen_clock.advance(timedelta(days=9, hours=12))
    with db.session_scope() as session:
        assert flows.remind_scheduled(session) == 0


def test_a_drill_is_scheduled_in_the_future(world, frozen_clock):
    with db.session_scope() as session, pytest.raises(Invalid) as refused:
        _by_hand(session, world, frozen_clock() - timedelta(minutes=1))
    assert refused.value.field == "at"
    with db.session_scope() as session:
        assert _schedules(session) == []


# --- drill requests from reviews ----------------------------------------------------------------


def test_a_review_request_becomes_a_scheduled_drill_moved_cancelled_and_started(
    world, frozen_clock
):
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        incident = make_incident(session, registry=world.registry, actor=duty)
        incident_flows.transition(
            session,
            incident=incident,
            change=StatusChange(status=IncidentStatus.resolved),
            actor=duty,
        )
        request = postmortem_drill_requests.request_drill(
            session,
            incident=incident,
            playbook_key="product-recall",
            reason="Rehearse the recall notice",
            wanted_by=date(2026, 12, 15),
            revision_id=None,
            actor=duty,
            may_edit=True,
        )
        incident_id, request_id = incident.id, request.id
    at = _shanghai(2026, 12, 10, 14)
    with db.session_scope() as session, pytest.raises(Invalid) as refused:
        flows.schedule_drill(
            session,
            playbooks=world.registry,
            scenario_key="delivery-delay",  # the mass-complaint playbook
            at=at,
            controller=None,
            participants=[],
            actor=world.user(session, world.duty_manager),
            request_id=request_id,
        )
    assert refused.value.field == "scenario"
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        row = flows.schedule_drill(
            session,
            playbooks=world.registry,
            scenario_key="battery-recall",
            at=at,
            controller=duty,
            participants=[],
            actor=duty,
            request_id=request_id,
        )
        schedule_id = row.id
        asked = session.get_one(DrillRequest, request_id)
        assert asked.state == DrillRequestState.scheduled and asked.scheduled_for == at
        assert postmortem_drill_requests.open_drill_requests(session) == []
    later = at + timedelta(days=2)
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        flows.move_scheduled(
            session,
            playbooks=world.registry,
            schedule_id=schedule_id,
            at=later,
            controller=duty,
            participants=[],
            actor=duty,
        )
        assert session.get_one(DrillRequest, request_id).scheduled_for == later
        flows.cancel_scheduled(
            session, playbooks=world.registry, schedule_id=schedule_id, actor=duty
        )
        assert [item.id for item in postmortem_drill_requests.open_drill_requests(session)] == [
            request_id
        ]
        again = flows.schedule_drill(
            session,
            playbooks=world.registry,
            scenario_key="battery-recall",
            at=later,
            controller=duty,
            participants=[],
            actor=duty,
            request_id=request_id,
        )
        again_id = again.id
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        run = flows.start_scheduled(
            session, playbooks=world.registry, schedule_id=again_id, actor=duty
        )
        run_id = run.id
        with pytest.raises(Conflict):
            flows.start_scheduled(
                session, playbooks=world.registry, schedule_id=again_id, actor=duty
            )
    with db.session_scope() as session:
        started = session.get_one(DrillSchedule, again_id)
        assert started.state == ScheduleState.started and started.run_id == run_id
        assert session.get_one(DrillRun, run_id).scenario_key == "battery-recall"
        assert _kinds(session, "incident", incident_id)[-4:] == [
            postmortem_drill_requests.DRILL_SCHEDULED,
            postmortem_drill_requests.DRILL_SCHEDULED,
            postmortem_drill_requests.DRILL_UNSCHEDULED,
            postmortem_drill_requests.DRILL_SCHEDULED,
        ]
        assert _kinds(session, calendar.SUBJECT, again_id) == [
            calendar.SCHEDULED,
            calendar.STARTED,
        ]


# --- the scenario file --------------------------------------------------------------------------


def test_a_bad_cadence_is_refused_at_its_file_and_line(shipped_playbooks, tmp_path):
    path = tmp_path / "bad.yaml"
    bad = SMALL_SCENARIO + "cadence:\n  every_months: 5\n  hour: 25\n"
    with pytest.raises(ScenarioInvalid) as refused:
        parse_scenario(bad, path, shipped_playbooks)
    assert str(refused.value).splitlines() == [
        f"{path}:25: cadence.every_months: Input should be 1, 2, 3, 4, 6 or 12",
        f"{path}:26: cadence.hour: Input should be less than or equal to 23",
    ]
    with pytest.raises(ScenarioInvalid) as refused:
        parse_scenario(
            SMALL_SCENARIO + "cadence:\n  every_months: 3\n  month: 4\n  participants: [a, a]\n",
            path,
            shipped_playbooks,
        )
    assert str(refused.value).splitlines() == [
        f"{path}:26: cadence.month: month 4 is not in a period of 3 months",
        f"{path}:27: cadence.participants: a participant is named twice",
    ]


def test_a_scenario_without_a_cadence_is_drilled_twice_a_year(shipped_playbooks, tmp_path):
    loaded = parse_scenario(SMALL_SCENARIO, tmp_path / "small.yaml", shipped_playbooks)
    assert loaded.scenario.cadence.every_months == 6


def _drain() -> None:
    async def main() -> None:
        sender = direct_sender(db.get_engine())
        try:
            await sender.drain()
        finally:
            await sender.close()

    asyncio.run(main())


def test_reminders_reach_the_smtp_server_and_twilio_once(world, smtp, twilio, frozen_clock):
    with db.session_scope() as session:
        person = make_user(session, Role.responder, contactable=True, locale="en")
        row = _by_hand(session, world, frozen_clock() + timedelta(days=10), person)
        at = row.at
        phones = {person.phone, world.user(session, world.duty_manager).phone}
        emails = {person.email, world.user(session, world.duty_manager).email}
    _drain()
    mails_before, texts_before = len(smtp.messages), len(twilio.fake.state.messages)
    frozen_clock.set(at - timedelta(days=7))
    for _ in range(2):
        with db.session_scope() as session:
            flows.remind_scheduled(session)
        _drain()
    mails = smtp.messages[mails_before:]
    texts = list(twilio.fake.state.messages.values())[texts_before:]
    assert sorted(to for tos, _ in mails for to in tos) == sorted(emails)
    assert sorted(text["to"] for text in texts) == sorted(phones)
    # Marked as a drill in either language: [DRILL] or 【演练】.
    assert all("[DRILL]" in mail["Subject"] or "【演练】" in mail["Subject"] for _, mail in mails)
    assert all(text["body"].startswith(("[DRILL]", "【演练】")) for text in texts)
