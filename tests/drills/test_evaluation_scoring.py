"""Objectives scored from what the participants did on the drill incident, against a drill
worked out by hand on the project clock (times in minutes from the start, on the wall):

 +2   the complaint wave starts (25 complaints, one every 24 s, all in by +11.6)
 +5   the commander acknowledges the page: exactly at the 5-minute target, so met
 +13  the controller pauses the drill; +23 resumes it: 10 minutes that do not count
 +30  every complaint of the wave acknowledged: 28 min after it started, 18 in exercise
      time, against 30: met; its deadline was +2 + 30 + 10 paused = +42
 +38  the holding statement approved: 28 in exercise time (38 on the wall), against 30:
      met; deadline +40
 +45  the first situation report compiled on demand: 35 in exercise time against the
      playbook's 2-hour cadence (no target in the scenario): met
 +75  the recall notice approved: 65 in exercise time against 60: missed; deadline +70
 +80  the drill ends
"""

from datetime import timedelta

from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.drills import flows
from incident_cmd.drills.scoring import Result, deadline, exercise_time
from incident_cmd.sitreps import flows as sitrep_flows
from incident_cmd.statements import flows as statement_flows
from incident_cmd.statements.models import StatementStage
from incident_cmd.statements.schemas import StatementDraft
from incident_cmd.tickets import lifecycle
from incident_cmd.tickets.models import Ticket, TicketStatus
from incident_cmd.tickets.schemas import TicketAction
from tests.plugins.clock import START
from tests.plugins.drills import acknowledge_commander

MINUTE = timedelta(minutes=1)


def at(frozen_clock, minutes: float) -> None:
    """Moves the project clock to that many minutes after the drill started."""
    frozen_clock.set(START + timedelta(minutes=minutes))


def control(drills, action, run_id: int) -> None:
    with db.session_scope() as session:
        action(session, run_id=run_id, actor=drills.world.user(session, drills.world.duty_manager))


def scores(run_id: int) -> dict:
    with db.session_scope() as session:
        return {
            score.objective.key: score for score in flows.evaluate(session, run_id=run_id).scores
        }


def test_a_hand_worked_drill_scores_met_and_missed_in_exercise_time(drills, world, frozen_clock):
    run_id = drills.start("battery-recall")
    incident_id = drills.run(run_id).incident_id
    at(frozen_clock, 2)
    drills.sweep()
    at(frozen_clock, 5)
    acknowledge_commander(incident_id)
    at(frozen_clock, 12)
    drills.sweep()
    at(frozen_clock, 13)
    control(drills, flows.pause, run_id)
    at(frozen_clock, 23)
    control(drills, flows.resume, run_id)
    early = scores(run_id)
    assert early["recall_notice"].result == Result.pending
    assert early["wave_triaged"].done == 0 and early["wave_triaged"].of == 25
    at(frozen_clock, 30)
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        wave = session.exec(
            select(Ticket).where(Ticket.incident_id == incident_id).order_by(col(Ticket.id))
        ).all()
        assert len(wave) == 25
        for ticket in wave:
            lifecycle.change_status(
                session,
                ticket=ticket,
                change=TicketAction(status=TicketStatus.acknowledged),
                actor=duty,
            )
    with db.session_scope() as session:
        statement = statement_flows.draft(
            session,
            incident_id=incident_id,
            data=StatementDraft(stage=StatementStage.investigating),
            actor=world.user(session, world.comms),
        )
        statement_id = statement.id
    at(frozen_clock, 38)
    with db.session_scope() as session:
        statement_flows.approve(
            session,
            incident_id=incident_id,
            statement_id=statement_id,
            actor=world.user(session, world.duty_manager),
        )
    at(frozen_clock, 45)
    with db.session_scope() as session:
        sitrep_flows.on_demand(
            session, incident_id=incident_id, actor=world.user(session, world.duty_manager)
        )
    at(frozen_clock, 75)
    with db.session_scope() as session:
        campaign = campaign_service.get_campaign(
            session, campaign_id=world.campaign_for(incident_id, "recall_sms")
        )
        campaign_service.approve(session, campaign=campaign, actor=world.user(session, world.comms))
    at(frozen_clock, 80)
    control(drills, flows.end, run_id)
    at(frozen_clock, 120)  # scored later: what counts is what happened before the end

    got = scores(run_id)
    expected = {
        # key: (result, started, target minutes, target at, achieved at, minutes taken)
        "commander_ack": (Result.met, 0, 5, 5, 5, 5),
        "holding_statement": (Result.met, 0, 30, 40, 38, 28),
        "recall_notice": (Result.missed, 0, 60, 70, 75, 65),
        "first_sitrep": (Result.met, 0, 120, 130, 45, 35),
        "wave_triaged": (Result.met, 2, 30, 42, 30, 18),
    }
    for key, (result, started, target, target_at, achieved, taken) in expected.items():
        score = got[key]
        assert (
            score.result,
            score.started_at,
            score.target_minutes,
            score.target_at,
            score.achieved_at,
            score.taken,
        ) == (
            result,
            START + started * MINUTE,
            target,
            START + target_at * MINUTE,
            START + achieved * MINUTE,
            taken * MINUTE,
        ), key
    assert (got["wave_triaged"].done, got["wave_triaged"].of) == (25, 25)
    # The evidence is the timeline entry that shows each achievement.
    assert [event.kind for event in got["commander_ack"].evidence] == ["page.acknowledged"]
    assert [event.kind for event in got["recall_notice"].evidence] == ["campaign.approved"]
    assert [event.kind for event in got["wave_triaged"].evidence] == [
        "drill.inject_fired",
        "drill.wave_done",
    ]


def test_a_minute_late_is_missed_and_what_never_started_is_untested(drills, frozen_clock):
    run_id = drills.start("battery-recall")
    incident_id = drills.run(run_id).incident_id
    frozen_clock.advance(5 * MINUTE + timedelta(seconds=1))
    acknowledge_commander(incident_id)
    running = scores(run_id)
    assert running["commander_ack"].result == Result.missed
    assert running["commander_ack"].taken == 5 * MINUTE + timedelta(seconds=1)
    # The wave has not fired: its objective has not started, and still may.
    assert running["wave_triaged"].result == Result.pending
    assert running["wave_triaged"].started_at is None
    assert running["holding_statement"].result == Result.pending
    control(drills, flows.end, run_id)
    ended = scores(run_id)
    assert ended["wave_triaged"].result == Result.untested
    # Not achieved by the end is missed, whatever the target.
    assert ended["holding_statement"].result == Result.missed
    assert ended["holding_statement"].achieved_at is None


def test_exercise_time_leaves_pauses_out_and_moves_deadlines():
    pauses = [
        (START + 10 * MINUTE, START + 20 * MINUTE),
        (START + 30 * MINUTE, START + 35 * MINUTE),
    ]
    assert exercise_time(START, START + 40 * MINUTE, pauses) == 25 * MINUTE
    # Achieved during a pause: counted when the pause began.
    assert exercise_time(START, START + 15 * MINUTE, pauses) == 10 * MINUTE
    assert deadline(START, 5 * MINUTE, pauses) == START + 5 * MINUTE
    assert deadline(START, 10 * MINUTE, pauses) == START + 10 * MINUTE
    assert deadline(START, 25 * MINUTE, pauses) == START + 40 * MINUTE
    # Counted from later than a pause: that pause moves nothing.
    assert deadline(START + 25 * MINUTE, 10 * MINUTE, pauses) == START + 40 * MINUTE


def test_scores_read_only_this_drill(drills, frozen_clock):
    first = drills.start("typhoon-service-centre")
    second = drills.start("typhoon-service-centre")
    acknowledge_commander(drills.run(first).incident_id)
    assert scores(first)["commander_ack"].result == Result.met
    assert scores(second)["commander_ack"].result == Result.pending
