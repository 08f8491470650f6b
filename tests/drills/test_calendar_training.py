"""The training record for a scripted history: who took part in which drill and as what, when
each kind of objective was last exercised, who is overdue against the cadence, and the
per-period figures the charts draw, worked out by hand."""

from datetime import timedelta

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.drills import flows, training
from incident_cmd.drills.models import DrillRun
from incident_cmd.incidents.models import RosterAssignment
from tests.factories import make_user


def _seated(session, run_id: int, role_key: str) -> int:
    run = session.get_one(DrillRun, run_id)
    seat = session.exec(
        select(RosterAssignment).where(
            RosterAssignment.incident_id == run.incident_id,
            RosterAssignment.role_key == role_key,
        )
    ).first()
    assert seat is not None and seat.user_id is not None
    return seat.user_id


def test_the_record_of_a_scripted_history(world, drills, frozen_clock):
    start = frozen_clock()  # Monday 23 November 2026
    with db.session_scope() as session:
        newcomer = make_user(session, Role.responder).id
        viewer = make_user(session, Role.viewer).id
    # November 2026 the battery recall, June 2027 the delivery delay.
    recall = drills.start("battery-recall")
    frozen_clock.set(start + timedelta(days=200))  # 11 June 2027
    drills.start("delivery-delay")
    with db.session_scope() as session:
        scenarios = flows.scenarios(world.registry)
        kinds = {
            key: {objective.kind for objective in loaded.scenario.objectives}
            for key, loaded in scenarios.items()
        }
        duty = world.user(session, world.duty_manager).id
        recall_commander = _seated(session, recall, "commander")
        records = {
            record.user.id: record
            for record in training.records(session, scenarios=scenarios.values())
        }
    # Everyone who may sit in the command center has a record; viewers do not.
    assert newcomer in records and viewer not in records
    # The duty manager controlled both: newest first, each with its objective kinds.
    mine = records[duty]
    assert [(item.scenario_key, item.roles[0]) for item in mine.runs] == [
        ("delivery-delay", training.CONTROLLER),
        ("battery-recall", training.CONTROLLER),
    ]
    assert mine.runs[1].at == start and mine.last == start + timedelta(days=200)
    assert mine.runs[1].kinds == kinds["battery-recall"]
    # Six months (the shortest cadence training it) after November: a kind only the recall
    # trains is overdue on 11 June for anyone who exercised it only then.
    only_recall = sorted(kinds["battery-recall"] - kinds["delivery-delay"])
    assert only_recall
    for kind in only_recall:
        status = mine.kinds[kind]
        assert status.last == start and status.due == start + timedelta(days=181)
        assert status.overdue
    for kind in kinds["delivery-delay"]:
        assert not mine.kinds[kind].overdue
    # The recall's commander held that seat (as well as whatever else the roster gave).
    assert "commander" in records[recall_commander].runs[-1].roles
    # The newcomer never drilled: every trained kind is owed.
    trained = kinds["battery-recall"] | kinds["delivery-delay"] | kinds["typhoon-service-centre"]
    assert sorted(records[newcomer].overdue) == sorted(trained)
    assert records[newcomer].last is None
    # The charts: per half-year to June 2027, how many of the people drilled each kind.
    with db.session_scope() as session:
        everyone = training.records(session, scenarios=scenarios.values())
        charts = {
            chart.kind: chart
            for chart in training.charts(everyone, training.kind_cadences(scenarios.values()))
        }
        took_recall = {
            person
            for person, items in training.participations(session).items()
            if any(item.run_id == recall for item in items)
        }
    chart = charts[only_recall[0]]
    assert chart.labels == ["2025-07", "2026-01", "2026-07", "2027-01"]
    people = len(everyone)
    drilled_then = len(took_recall & {record.user.id for record in everyone})
    assert chart.drilled == [0, 0, drilled_then, 0]
    assert chart.missed == [people, people, people - drilled_then, people]
