"""The training record for a scripted history: who took part in which drill and as what, when
each kind of objective was last exercised, who is overdue against the cadence, each kind's
latest rating, and the per-period figures the charts draw, worked out by hand."""

from datetime import timedelta

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.drills import flows, training
from incident_cmd.drills.evaluation_models import Rating
from incident_cmd.drills.models import DrillRun
from incident_cmd.drills.schema import ObjectiveKind
from incident_cmd.incidents.models import RosterAssignment
from tests.factories import make_user
from tests.plugins.web import PASSWORD, login


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


def _rate(world, run_id: int, ratings: dict[str, str], evaluator: str | None = None) -> None:
    with db.session_scope() as session:
        actor = world.user(session, evaluator or world.duty_manager)
        for objective, rating in ratings.items():
            flows.rate(
                session,
                run_id=run_id,
                objective_key=objective,
                rating=rating,
                notes="",
                actor=actor,
            )


def test_the_latest_ratings_and_the_rating_charts_of_a_scripted_history(
    world, drills, frozen_clock, client_factory
):
    start = frozen_clock()  # Monday 23 November 2026
    with db.session_scope() as session:
        trainer = make_user(session, Role.responder).username
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        duty_id = duty.id
    # November 2026 the battery recall, rated by the duty manager and a named trainer; the
    # duty manager's recall notice rated P, then again M (the later replaces it).
    recall = drills.start("battery-recall")
    with db.session_scope() as session:
        flows.name_evaluator(
            session,
            run_id=recall,
            username=trainer,
            actor=world.user(session, world.duty_manager),
        )
    _rate(world, recall, {"recall_notice": "P"})
    _rate(
        world,
        recall,
        {"commander_ack": "P", "holding_statement": "S", "recall_notice": "M", "wave_triaged": "U"},
    )
    _rate(world, recall, {"commander_ack": "S", "holding_statement": "S"}, evaluator=trainer)
    # June 2027 the delivery delay: its statement went well, its notice not at all, its
    # wave not rated.
    frozen_clock.set(start + timedelta(days=200))  # 11 June 2027
    delay = drills.start("delivery-delay")
    _rate(world, delay, {"holding_statement": "P", "apology_notice": "U"})
    with db.session_scope() as session:
        scenarios = flows.scenarios(world.registry)
        everyone = training.records(session, scenarios=scenarios.values())
    mine = next(record for record in everyone if record.user.id == duty_id)
    # The duty manager controlled both. Per kind: the worst rating of the newest rated run
    # that exercised it; a kind the newest run left unrated keeps the recall's.
    latest = {kind: (status.rating, status.rated_at) for kind, status in mine.kinds.items()}
    assert latest == {
        ObjectiveKind.commander_acknowledged: (Rating.some_challenges, start),
        ObjectiveKind.holding_statement_approved: (
            Rating.performed,
            start + timedelta(days=200),
        ),
        ObjectiveKind.customer_notice_approved: (Rating.unable, start + timedelta(days=200)),
        ObjectiveKind.first_sitrep_on_time: (None, None),
        ObjectiveKind.complaint_wave_triaged: (Rating.unable, start),
    }
    assert mine.weak == [
        ObjectiveKind.customer_notice_approved,
        ObjectiveKind.complaint_wave_triaged,
    ]
    # Overdue (only the recall trained them, in November) or weak: four gaps of five. The
    # list puts those with most gaps first: the trainer, who never drilled, owes all five.
    assert mine.overdue == [
        ObjectiveKind.commander_acknowledged,
        ObjectiveKind.first_sitrep_on_time,
    ]
    assert len(mine.gaps) == 4
    gaps = {record.user.username: len(record.gaps) for record in everyone}
    assert gaps[trainer] == 5
    assert list(gaps.values()) == sorted(gaps.values(), reverse=True)
    # Per half-year to June 2027 (the recall's in 2026-07, the delay's in 2027-01), each
    # evaluator's rating once, however many people took part in the run.
    charts = {
        chart.kind: chart.ratings
        for chart in training.charts(everyone, training.kind_cadences(scenarios.values()))
    }
    none = [0, 0, 0, 0]
    assert charts == {
        ObjectiveKind.commander_acknowledged: {
            "P": [0, 0, 1, 0],
            "S": [0, 0, 1, 0],
            "M": none,
            "U": none,
        },
        ObjectiveKind.holding_statement_approved: {
            "P": [0, 0, 0, 1],
            "S": [0, 0, 2, 0],
            "M": none,
            "U": none,
        },
        ObjectiveKind.customer_notice_approved: {
            "P": none,
            "S": none,
            "M": [0, 0, 1, 0],
            "U": [0, 0, 0, 1],
        },
        ObjectiveKind.first_sitrep_on_time: {"P": none, "S": none, "M": none, "U": none},
        ObjectiveKind.complaint_wave_triaged: {"P": none, "S": none, "M": none, "U": [0, 0, 1, 0]},
    }
    # The page: the latest rating in each kind's cell, a weak one highlighted as overdue.
    client = client_factory()
    login(client, world.duty_manager)
    page = client.get(f"/drills/training?person={duty_id}")
    assert page.status_code == 200
    cells = {
        kind: page.text.split(f'data-kind="{kind}"', 1)[1].split(">", 1)[0]
        for kind in ObjectiveKind
    }
    assert cells[ObjectiveKind.holding_statement_approved] == ' data-rating="P" class="nowrap"'
    assert cells[ObjectiveKind.customer_notice_approved] == ' data-rating="U" class="nowrap gap"'
    assert cells[ObjectiveKind.first_sitrep_on_time] == ' class="nowrap gap"'
    assert "2 项评级为 M 或 U" in page.text  # the duty manager reads Chinese
