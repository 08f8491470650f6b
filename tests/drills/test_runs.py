"""A drill run on the project clock: each inject fires once at its offset whichever worker
sweeps, a pause moves the injects still to come, an end stops them, and the controller may
fire one early. Everything is on the drill incident's timeline."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from incident_cmd import db
from incident_cmd.drills import flows, service
from incident_cmd.drills.models import InjectState, RunState
from incident_cmd.errors import Conflict
from incident_cmd.incidents import service as incident_service
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.timeline.models import TimelineEvent

MINUTE = timedelta(minutes=1)


def test_starting_declares_a_drill_incident_with_synthetic_customers(drills, frozen_clock):
    run_id = drills.start("battery-recall")
    run = drills.run(run_id)
    with db.session_scope() as session:
        incident = incident_service.get_incident(session, incident_id=run.incident_id)
        assert incident.drill and incident.playbook_key == "product-recall"
        customers = flows.customer_service.synthetic_customers(
            session, series=f"drill-{incident.number}"
        )
    assert len(customers) == 40
    assert customers[0].name == "演练客户 001" and customers[1].name == "Drill customer 002"
    assert all(customer.synthetic for customer in customers)
    assert customers[0].phone == "+8617000000001"
    injects = drills.injects(run_id)
    assert {key: row.due_at - run.started_at for key, row in injects.items()} == {
        "first_wave": 2 * MINUTE,
        "journalist": 15 * MINUTE,
        "second_batch": 25 * MINUTE,
        "replies": 40 * MINUTE,
        "commander_away": 45 * MINUTE,
        "wrap_up": 60 * MINUTE,
    }
    assert run.objectives[0] == {
        "key": "commander_ack",
        "kind": "commander_acknowledged",
        "description": {
            "zh-CN": "总指挥 5 分钟内确认呼叫",
            "en": "The commander acknowledges the page within 5 minutes",
        },
        "target_minutes": 5,
        "after": None,
    }
    assert drills.kinds(run_id, "drill.") == ["drill.started"]


def test_injects_fire_once_at_their_offsets(drills, frozen_clock):
    run_id = drills.start("typhoon-service-centre")
    assert drills.sweep() == 0
    frozen_clock.advance(MINUTE)
    assert drills.sweep() == 1  # the message at +1
    assert drills.sweep() == 0
    frozen_clock.advance(9 * MINUTE)
    assert drills.sweep() == 1  # the facts at +10
    frozen_clock.advance(10 * MINUTE)
    drills.sweep()  # the wave at +20 starts: its first complaint
    injects = drills.injects(run_id)
    assert injects["stranded"].state == InjectState.firing and injects["stranded"].done == 1
    frozen_clock.advance(10 * MINUTE)
    drills.sweep()  # the other seven, one a minute, all due by now
    injects = drills.injects(run_id)
    assert {row.state for row in injects.values()} == {InjectState.fired}
    assert injects["stranded"].done == 8
    assert drills.kinds(run_id, "drill.") == [
        "drill.started",
        "drill.inject_fired",
        "drill.message",
        "drill.inject_fired",
        "drill.facts_changed",
        "drill.inject_fired",
        "drill.wave_done",
    ]
    assert "incident.scope_widened" in drills.kinds(run_id)
    with db.session_scope() as session:
        incident = incident_service.get_incident(
            session, incident_id=drills.run(run_id).incident_id
        )
        assert incident.scope["regions"] == ["演练区", "演练邻区"]


def test_two_workers_fire_each_inject_once(drills, frozen_clock, use_database):
    if use_database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    run_id = drills.start("typhoon-service-centre")
    frozen_clock.advance(11 * MINUTE)
    first = Session(db.get_engine(), expire_on_commit=False)
    second = Session(db.get_engine(), expire_on_commit=False)
    try:
        assert flows.fire_due_injects(first) == 2  # holds the two injects' row locks
        assert flows.fire_due_injects(second) == 0
        first.commit()
        second.commit()
        assert flows.fire_due_injects(second) == 0
    finally:
        first.close()
        second.close()
    assert drills.kinds(run_id, "drill.inject_fired").count("drill.inject_fired") == 2


def test_a_pause_moves_the_injects_still_to_come(drills, frozen_clock):
    run_id = drills.start("typhoon-service-centre")
    frozen_clock.advance(MINUTE)
    drills.sweep()
    before = drills.injects(run_id)
    with db.session_scope() as session:
        flows.pause(
            session, run_id=run_id, actor=drills.world.user(session, drills.world.duty_manager)
        )
    frozen_clock.advance(30 * MINUTE)
    assert drills.sweep() == 0  # nothing fires while paused, however late it gets
    with db.session_scope() as session:
        flows.resume(
            session, run_id=run_id, actor=drills.world.user(session, drills.world.duty_manager)
        )
    after = drills.injects(run_id)
    assert after["staff_check"].due_at == before["staff_check"].due_at  # fired already
    for key in ("warehouse", "stranded"):
        assert after[key].due_at == before[key].due_at + 30 * MINUTE
    assert drills.run(run_id).paused_seconds == 30 * 60
    frozen_clock.advance(8 * MINUTE)  # +39 on the wall, +9 in the exercise
    assert drills.sweep() == 0
    frozen_clock.advance(MINUTE)
    assert drills.sweep() == 1
    assert drills.kinds(run_id, "drill.")[3:6] == [
        "drill.paused",
        "drill.resumed",
        "drill.inject_fired",
    ]


def test_ending_stops_the_rest_and_firing_early_is_the_controllers(drills, frozen_clock):
    run_id = drills.start("typhoon-service-centre")
    with db.session_scope() as session:
        duty = drills.world.user(session, drills.world.duty_manager)
        run = service.get_run(session, run_id=run_id, lock=True)
        flows.fire_now(
            session, playbooks=drills.world.registry, run=run, key="stranded", actor=duty
        )
    injects = drills.injects(run_id)
    assert injects["stranded"].state == InjectState.fired and injects["stranded"].done == 8
    assert injects["stranded"].fired_by is not None
    with db.session_scope() as session:
        duty = drills.world.user(session, drills.world.duty_manager)
        run = service.get_run(session, run_id=run_id, lock=True)
        with pytest.raises(Conflict):
            flows.fire_now(
                session, playbooks=drills.world.registry, run=run, key="stranded", actor=duty
            )
        flows.end(session, run_id=run_id, actor=duty)
    frozen_clock.advance(60 * MINUTE)
    assert drills.sweep() == 0
    injects = drills.injects(run_id)
    assert injects["staff_check"].state == injects["warehouse"].state == InjectState.cancelled
    assert drills.run(run_id).state == RunState.ended
    assert drills.kinds(run_id, "drill.")[-1] == "drill.ended"


def test_a_message_inject_tells_each_seated_participant_once_marked_as_a_drill(
    drills, frozen_clock
):
    run_id = drills.start("typhoon-service-centre")
    frozen_clock.advance(MINUTE)
    assert drills.sweep() == 1  # the message at +1
    run = drills.run(run_id)
    with db.session_scope() as session:
        incident = incident_service.get_incident(session, incident_id=run.incident_id)
        seated = {
            seat.user_id
            for seat in incident_service.current_roster(session, incident=incident)
            if seat.user_id is not None
        }
        messages = session.exec(
            select(DirectMessage).where(
                DirectMessage.source == flows.SOURCE,
                DirectMessage.label.startswith("drill message"),
            )
        ).all()
        assert seated and {message.user_id for message in messages} == seated
        assert all(message.drill for message in messages)
        for message in messages:
            marking = "【演练】" if message.locale == "zh-CN" else "[DRILL]"
            shown = message.body if message.channel == "sms" else message.subject
            assert shown is not None and shown.startswith(marking), shown
        assert len(messages) == len({(m.user_id, m.channel) for m in messages})
        [told] = session.exec(
            select(TimelineEvent.data).where(
                TimelineEvent.subject_type == "incident",
                TimelineEvent.subject_id == incident.id,
                TimelineEvent.kind == "drill.message",
            )
        ).all()
    assert told["told"] == len(seated)
