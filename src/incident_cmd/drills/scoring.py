"""Each objective of a drill run scored from what happened on its drill incident: when the
measured thing was first achieved, against the objective's target.

The clock of an objective starts at the drill's start, or when the inject named by
``after`` fired (when participants learned of it, even if the sweep fired it late). Its
target is ``target_minutes`` of *exercise time*: time the drill stood paused does not count,
so a deadline moves on by every pause that falls before it, and something achieved during
a pause counts as achieved when the pause began (the exercise clock stood still). Exactly
at the target is met: "within 5 minutes" includes the fifth minute's end.

Without ``target_minutes`` the playbook gives the target where it has one (the commander
seat's ``ack_within``; the severity's situation report cadence, whose first step is when
the first report is due); otherwise the objective is met if achieved before the drill ended.
What is achieved after the drill ended does not count.

What is measured, per kind (each the first at or after the objective's start):
- commander_acknowledged: the commander seat's page acknowledged;
- holding_statement_approved: a public statement approved;
- customer_notice_approved: a customer notice (campaign) approved;
- first_sitrep_on_time: a situation report compiled (scheduled or asked for);
- complaint_wave_triaged: every complaint of the wave given its first response (intake
  assigns each complaint at once, so an assignment proves nothing; the first response is
  when an agent has taken it up). The wave is the complaints inject named by ``after``, or
  every complaints inject of the scenario; its complaints are the drill tickets it made,
  told apart from others by channel, category, product and batch, in the order made.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select

from incident_cmd import clock
from incident_cmd.campaigns.models import Campaign
from incident_cmd.drills.models import DrillInject, DrillRun, InjectState
from incident_cmd.drills.schema import Complaints, Objective, ObjectiveKind, Scenario
from incident_cmd.drills.service import ENDED, INJECT_FIRED, PAUSED, RESUMED, scenario_of
from incident_cmd.incidents.models import Incident
from incident_cmd.paging.models import Page
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.sitreps.models import SituationReport
from incident_cmd.statements.models import Statement
from incident_cmd.tickets.models import IntakeChannel, Ticket
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.workdays import UNITS, parse_offset

COMMANDER_ROLE = "commander"
# The timeline entries that show an objective's achievement (besides the inject it counts
# from), as evidence in the after-action report.
EVIDENCE = {
    ObjectiveKind.commander_acknowledged: ("page.acknowledged",),
    ObjectiveKind.holding_statement_approved: ("statement.approved",),
    ObjectiveKind.customer_notice_approved: ("campaign.approved",),
    ObjectiveKind.first_sitrep_on_time: ("sitrep.compiled",),
    ObjectiveKind.complaint_wave_triaged: ("drill.wave_done",),
}


class Result(StrEnum):
    met = "met"
    missed = "missed"
    pending = "pending"  # not achieved yet, and still can be
    untested = "untested"  # the inject it counts from never fired


@dataclass(frozen=True)
class Score:
    objective: Objective
    started_at: datetime | None
    target_minutes: int | None
    target_at: datetime | None  # on the wall clock, pauses included
    achieved_at: datetime | None
    taken: timedelta | None  # exercise time from the start to the achievement
    result: Result
    # How many of how many, for a wave (else None).
    done: int | None
    of: int | None
    evidence: tuple[TimelineEvent, ...]


def pauses(events: Sequence[TimelineEvent], horizon: datetime) -> list[tuple[datetime, datetime]]:
    """The spans the drill stood paused, from its timeline; one still open ends at
    ``horizon``."""
    spans: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for event in events:
        if event.kind == PAUSED and since is None:
            since = event.at
        elif event.kind in (RESUMED, ENDED) and since is not None:
            spans.append((since, event.at))
            since = None
    if since is not None:
        spans.append((since, max(since, horizon)))
    return spans


def exercise_time(
    start: datetime, end: datetime, paused: Sequence[tuple[datetime, datetime]]
) -> timedelta:
    """Wall time from ``start`` to ``end`` less the paused time within it."""
    total = end - start
    for begin, finish in paused:
        overlap = min(end, finish) - max(start, begin)
        if overlap > timedelta(0):
            total -= overlap
    return max(total, timedelta(0))


def deadline(
    start: datetime, target: timedelta, paused: Sequence[tuple[datetime, datetime]]
) -> datetime:
    """The wall-clock moment at which ``target`` of exercise time has passed since
    ``start``: each pause before it moves it on."""
    cursor, remaining = start, target
    for begin, finish in sorted(paused):
        if finish <= cursor:
            continue
        begin = max(begin, cursor)
        if cursor + remaining <= begin:
            break
        remaining -= begin - cursor
        cursor = finish
    return cursor + remaining


def _minutes(offset: str) -> int:
    amount, unit = parse_offset(offset)
    # Working days ("wd") are not a target anyone sets for a drill: read as days.
    return int(timedelta(**{UNITS.get(unit, "days"): amount}).total_seconds() // 60)


def default_target(objective: Objective, playbook: Playbook, severity: str) -> int | None:
    if objective.target_minutes is not None:
        return objective.target_minutes
    if objective.kind == ObjectiveKind.commander_acknowledged:
        role = playbook.role(COMMANDER_ROLE)
        return _minutes(role.ack_within) if role else None
    if objective.kind == ObjectiveKind.first_sitrep_on_time:
        level = playbook.severity(severity)
        return _minutes(level.report_every) if level and level.report_every else None
    return None


def _first(
    session: Session, column: datetime | None, *where: ColumnElement[bool] | bool
) -> datetime | None:
    """The earliest value of the column (a model's datetime field) where ``where`` holds."""
    return session.exec(select(func.min(column)).where(*where)).one()


def _waves(
    scenario: Scenario, injects: Sequence[DrillInject], after: str | None
) -> list[tuple[DrillInject, Complaints]]:
    waves = []
    for row in injects:
        action = scenario.injects[row.position].action
        if isinstance(action, Complaints) and (after is None or row.key == after):
            waves.append((row, action))
    return waves


def _wave_tickets(
    session: Session, incident: Incident, row: DrillInject, action: Complaints
) -> Sequence[Ticket]:
    if row.fired_at is None:
        return []
    return session.exec(
        select(Ticket)
        .where(
            Ticket.incident_id == incident.id,
            col(Ticket.drill).is_(True),
            Ticket.channel == IntakeChannel.phone,
            Ticket.category == action.category,
            Ticket.product_model == action.product,
            Ticket.batch == action.batch,
            col(Ticket.created_at) >= row.fired_at,
        )
        .order_by(col(Ticket.id))
        .limit(row.done)
    ).all()


@dataclass(frozen=True)
class _Achieved:
    at: datetime | None
    done: int | None = None
    of: int | None = None


def _achieved(
    session: Session,
    *,
    kind: ObjectiveKind,
    incident: Incident,
    scenario: Scenario,
    injects: Sequence[DrillInject],
    after: str | None,
    start: datetime,
    horizon: datetime,
) -> _Achieved:
    if kind == ObjectiveKind.commander_acknowledged:
        return _Achieved(
            _first(
                session,
                Page.acknowledged_at,
                Page.incident_id == incident.id,
                Page.role_key == COMMANDER_ROLE,
                col(Page.acknowledged_at) >= start,
            )
        )
    if kind == ObjectiveKind.holding_statement_approved:
        return _Achieved(
            _first(
                session,
                Statement.approved_at,
                Statement.incident_id == incident.id,
                col(Statement.approved_at) >= start,
            )
        )
    if kind == ObjectiveKind.customer_notice_approved:
        return _Achieved(
            _first(
                session,
                Campaign.approved_at,
                Campaign.incident_id == incident.id,
                col(Campaign.approved_at) >= start,
            )
        )
    if kind == ObjectiveKind.first_sitrep_on_time:
        return _Achieved(
            _first(
                session,
                SituationReport.compiled_at,
                SituationReport.incident_id == incident.id,
                col(SituationReport.compiled_at) >= start,
            )
        )
    waves = _waves(scenario, injects, after)
    expected = sum(action.count for _, action in waves)
    tickets = [
        ticket for row, action in waves for ticket in _wave_tickets(session, incident, row, action)
    ]
    answered = [
        ticket.first_response_at for ticket in tickets if ticket.first_response_at is not None
    ]
    answered = [moment for moment in answered if moment <= horizon]
    complete = bool(waves) and all(row.state == InjectState.fired for row, _ in waves)
    last = max(answered) if complete and answered and len(answered) == expected else None
    return _Achieved(max(last, start) if last else None, len(answered), expected)


def score(
    session: Session,
    *,
    run: DrillRun,
    incident: Incident,
    playbook: Playbook,
    injects: Sequence[DrillInject],
    events: Sequence[TimelineEvent],
) -> list[Score]:
    """Every objective of the run, in the scenario's order; ``events`` the drill incident's
    timeline, oldest first."""
    scenario = scenario_of(run)
    now = clock.now()
    horizon = run.ended_at or now
    paused = pauses(events, horizon)
    fired = {row.key: row.fired_at for row in injects}
    scores = []
    for objective in scenario.objectives:
        target = default_target(objective, playbook, incident.severity)
        start = run.started_at if objective.after is None else fired.get(objective.after)
        if start is None:
            scores.append(
                Score(
                    objective,
                    None,
                    target,
                    None,
                    None,
                    None,
                    Result.untested if run.ended_at else Result.pending,
                    None,
                    None,
                    (),
                )
            )
            continue
        achieved = _achieved(
            session,
            kind=objective.kind,
            incident=incident,
            scenario=scenario,
            injects=injects,
            after=objective.after,
            start=start,
            horizon=horizon,
        )
        at = achieved.at if achieved.at is not None and achieved.at <= horizon else None
        limit = timedelta(minutes=target) if target is not None else None
        taken = exercise_time(start, at, paused) if at is not None else None
        if taken is not None:
            result = Result.met if limit is None or taken <= limit else Result.missed
        elif run.ended_at is not None or (
            limit is not None and exercise_time(start, now, paused) > limit
        ):
            result = Result.missed
        else:
            result = Result.pending
        kinds = EVIDENCE[objective.kind]
        evidence = tuple(
            event
            for event in events
            if (
                event.kind in kinds
                and event.at >= start
                and (
                    objective.kind != ObjectiveKind.commander_acknowledged
                    or event.data.get("role") == COMMANDER_ROLE
                )
                and (
                    objective.kind != ObjectiveKind.complaint_wave_triaged
                    or objective.after is None
                    or event.data.get("inject") == objective.after
                )
            )
            or (
                event.kind == INJECT_FIRED
                and objective.after is not None
                and event.data.get("inject") == objective.after
            )
        )
        scores.append(
            Score(
                objective,
                start,
                target,
                deadline(start, limit, paused) if limit is not None else None,
                at,
                taken,
                result,
                achieved.done,
                achieved.of,
                evidence[:6],
            )
        )
    return scores
