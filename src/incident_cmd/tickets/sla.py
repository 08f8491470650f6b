"""SLA timers: started at intake, stopped while the ticket waits on the customer, met by the
first response, the handling plan, the resolution and the close; warned at ``warn_at`` of
the target, breached at the target, breached a second time at twice the target. The sweep
acts on each stage once: on PostgreSQL it claims rows with SKIP LOCKED, and a stage, once
written, is never due again."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.db import skip_locked, table_of
from incident_cmd.messaging.quiet_hours import clock_time
from incident_cmd.tickets.calendar import BusinessCalendar, CalendarClock
from incident_cmd.tickets.models import SlaTimer, Ticket, TimerKind
from incident_cmd.tickets.policy import ServiceLevels, Target

STAGES = ("running", "warned", "breached", "breached twice")


def business_calendar(levels: ServiceLevels) -> BusinessCalendar:
    return BusinessCalendar(
        levels.zone,
        clock_time(levels.working_hours.start),
        clock_time(levels.working_hours.end),
        levels.holiday_country,
    )


def clock_for(levels: ServiceLevels, name: str) -> BusinessCalendar | CalendarClock:
    return business_calendar(levels) if name == "business" else CalendarClock()


def _due_times(
    levels: ServiceLevels, clock_name: str, target_seconds: float, start: datetime, remaining: float
) -> tuple[datetime, datetime, datetime]:
    """The warning, the breach and the second breach from ``start`` with ``remaining`` seconds
    of the target left to run."""
    counting = clock_for(levels, clock_name)
    before_warning = remaining - (1 - levels.warn_at) * target_seconds
    return (
        counting.add(start, max(0.0, before_warning)),
        counting.add(start, remaining),
        counting.add(start, remaining + target_seconds),
    )


def _schedule(timer: SlaTimer, levels: ServiceLevels, start: datetime, remaining: float) -> None:
    timer.warn_at, timer.due_at, timer.second_at = _due_times(
        levels, timer.clock, timer.target_seconds, start, remaining
    )
    timer.next_action_at = _next_action(timer)


def _next_action(timer: SlaTimer) -> datetime | None:
    if timer.met_at is not None or timer.paused_at is not None:
        return None
    return (timer.warn_at, timer.due_at, timer.second_at, None)[timer.stage]


def response_target(levels: ServiceLevels, target: Target, start: datetime) -> Target:
    """Seeds 001 「对于用户的投诉,相关部门应及时给予回应,最迟不超过24小时」: whatever the
    priority and its clock, the response is due at most ``respond_at_latest`` of calendar
    time after intake; the priority's own target applies when it falls earlier (a business
    clock can otherwise carry a Friday-evening complaint into Monday, or past a holiday)."""
    ceiling = Target(within=levels.respond_at_latest, clock="calendar")
    own_due = clock_for(levels, target.clock).add(start, target.seconds)
    return target if own_due <= CalendarClock.add(start, ceiling.seconds) else ceiling


@dataclass(frozen=True)
class NewTimer:
    """A timer as it is started: running, not met, not paused. Intake writes a batch's timers
    from these in one statement, with no ORM object each (building and flushing those was
    most of an intake's CPU), and answers with them."""

    ticket_id: int
    kind: TimerKind
    clock: str
    target_seconds: float
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    second_at: datetime
    stage: int = 0
    paused_at: datetime | None = None
    met_at: datetime | None = None
    met_in_time: bool | None = None

    @property
    def next_action_at(self) -> datetime:
        return self.warn_at  # stage 0, neither met nor paused: the warning comes next

    def row(self) -> dict:
        # A shallow copy: ``dataclasses.asdict`` deep-copies every value, at a cost that
        # showed in an intake's profile.
        return {**vars(self), "next_action_at": self.next_action_at}


def new_timer(
    *, ticket_id: int, kind: TimerKind, target: Target, levels: ServiceLevels, now: datetime
) -> NewTimer:
    if kind == TimerKind.response:
        target = response_target(levels, target, now)
    seconds = target.seconds
    warn_at, due_at, second_at = _due_times(levels, target.clock, seconds, now, seconds)
    return NewTimer(ticket_id, kind, target.clock, target.seconds, now, warn_at, due_at, second_at)


def write_timers(session: Session, *, timers: Sequence[NewTimer]) -> None:
    """The timers in one statement, in order."""
    if timers:
        session.execute(
            table_of(SlaTimer).insert(),
            [timer.row() for timer in timers],
        )


def start_timer(
    session: Session, *, ticket: Ticket, kind: TimerKind, target: Target, levels: ServiceLevels
) -> SlaTimer:
    started = new_timer(
        ticket_id=ticket.id, kind=kind, target=target, levels=levels, now=clock.now()
    )
    timer = SlaTimer(**started.row())
    session.add(timer)
    return timer


def timers_of(session: Session, *, ticket: Ticket) -> Sequence[SlaTimer]:
    return session.exec(
        select(SlaTimer).where(SlaTimer.ticket_id == ticket.id).order_by(col(SlaTimer.id))
    ).all()


def meet(session: Session, *, ticket: Ticket, kind: TimerKind) -> SlaTimer | None:
    timer = session.exec(
        select(SlaTimer).where(SlaTimer.ticket_id == ticket.id, SlaTimer.kind == kind)
    ).first()
    if timer is None or timer.met_at is not None:
        return None
    now = clock.now()
    timer.met_at = now
    # Time spent waiting on the customer does not count: a pause keeps the clock where it was.
    timer.met_in_time = (timer.paused_at or now) <= timer.due_at
    timer.next_action_at = None
    session.add(timer)
    return timer


def pause(session: Session, *, ticket: Ticket) -> None:
    now = clock.now()
    for timer in timers_of(session, ticket=ticket):
        if timer.met_at is None and timer.paused_at is None:
            timer.paused_at = now
            timer.next_action_at = None
            session.add(timer)


def resume(session: Session, *, ticket: Ticket, levels: ServiceLevels) -> None:
    """The clock goes on from where it stopped: what was left of each target is left still."""
    now = clock.now()
    for timer in timers_of(session, ticket=ticket):
        if timer.met_at is not None or timer.paused_at is None:
            continue
        counting = clock_for(levels, timer.clock)
        remaining = counting.between(timer.paused_at, timer.due_at)
        if timer.paused_at >= timer.due_at:  # paused after the breach: count on from there
            remaining = -counting.between(timer.due_at, timer.paused_at)
        timer.paused_at = None
        if remaining >= 0:
            _schedule(timer, levels, now, remaining)
        else:
            _shift_breached(timer, counting, now, remaining)
        session.add(timer)


def _shift_breached(timer: SlaTimer, counting, now: datetime, overdue: float) -> None:
    # Already late when paused: the breach stands; only the second breach moves on.
    timer.second_at = counting.add(now, max(0.0, timer.target_seconds + overdue))
    timer.next_action_at = _next_action(timer)


def claim_due(session: Session, *, limit: int = 1000) -> list[SlaTimer]:
    """Moves every timer whose next stage is due on by one stage and returns them; the caller
    tells whom the stage concerns in the same transaction."""
    now = clock.now()
    query = (
        select(SlaTimer)
        .where(col(SlaTimer.next_action_at) <= now)
        .order_by(col(SlaTimer.next_action_at))
        .limit(limit)
    )
    timers = list(session.exec(skip_locked(session, query)).all())
    for timer in timers:
        timer.stage += 1
        timer.next_action_at = _next_action(timer)
        session.add(timer)
    return timers


def stage_name(timer: SlaTimer) -> str:
    return STAGES[timer.stage]
