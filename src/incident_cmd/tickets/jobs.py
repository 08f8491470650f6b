"""The ticket queue's background sweeps: SLA warnings and breaches, and callbacks gone
overdue, each claiming its due rows with SKIP LOCKED so several workers share the work; and
the monthly review's calendar jobs, which ``review`` runs once per month across workers."""

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.db import skip_locked
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import templates_for
from incident_cmd.tickets import appeals, review, sla
from incident_cmd.tickets.access import owner
from incident_cmd.tickets.history import SUBJECT, record
from incident_cmd.tickets.models import BreachState, SlaTimer, Ticket, TicketTask, TimerKind
from incident_cmd.tickets.notices import SOURCE, local_time

TIMER_NAMES = {
    TimerKind.response: "first response",
    TimerKind.resolution: "resolution",
    TimerKind.handling_plan: "handling plan",
    TimerKind.close: "close",
    TimerKind.verification: "verification",
    TimerKind.appeal_response: "appeal response",
    TimerKind.appeal_answer: "appeal answer",
}


class _Owners:
    """Who a stage concerns, looked up once per sweep for each team and assignee."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._found: dict[tuple[str, object], User | None] = {}

    def __call__(self, ticket: Ticket, who: str, kind: TimerKind) -> User | None:
        if kind in appeals.APPEAL_TIMERS:  # the appeal's handler and team, not the ticket's
            return appeals.alerted(self.session, ticket=ticket, who=who)
        key = (who, ticket.assignee_id if who == "assignee" else ticket.team_key)
        if key not in self._found:
            self._found[key] = owner(self.session, ticket=ticket, who=who)
        return self._found[key]


ALERTED = {"warned": "assignee", "breached": "supervisor", "breached twice": "duty_manager"}


def _alert(session: Session, ticket: Ticket, timer: SlaTimer, owners: _Owners) -> None:
    """At the warning the assignee hears, at the breach the supervisor, at the second breach
    the duty manager; each once, on the ticket's timeline and by message."""
    stage = sla.stage_name(timer)
    who = ALERTED[stage]
    told = owners(ticket, who, timer.kind)
    if stage != "warned":
        ticket.breach_state = BreachState.breached
    elif ticket.breach_state == BreachState.ok:
        ticket.breach_state = BreachState.warning
    session.add(ticket)
    name = TIMER_NAMES[timer.kind]
    record(
        session,
        ticket=ticket,
        kind=f"sla.{stage.replace(' ', '_')}",
        summary=f"{name} target {stage} (due {timer.due_at.isoformat()}); "
        f"{who.replace('_', ' ')} {told.username if told else 'unknown'} told",
        actor_id=None,
        data={"timer": timer.kind, "stage": stage, "told": told.username if told else None},
    )
    if told is None or not (address := told.phone or told.email):
        return
    channel = ChannelName.sms if told.phone else ChannelName.email
    rendered = templates_for(get_settings().template_dir).render(
        "ticket_alert",
        channel,
        told.locale,
        {
            "organisation": get_settings().organisation_name,
            "number": ticket.number,
            "priority": ticket.priority,
            "timer": name,
            "stage": stage,
            "due": local_time(timer.due_at, told.timezone),
            "note": "",
        },
    )
    direct.enqueue(
        session,
        key=f"sla-{timer.id}-{timer.stage}",
        source=SOURCE,
        source_id=ticket.id,
        subject=(SUBJECT, ticket.id),
        label=f"{name} {stage} alert to {told.username}",
        channel=channel,
        address=address,
        locale=told.locale,
        rendered=rendered,
        user_id=told.id,
    )


def sweep_timers(session: Session, *, limit: int = 1000) -> int:
    """Sweep: each due warning and breach, once (SKIP LOCKED across workers)."""
    timers = sla.claim_due(session, limit=limit)
    if not timers:
        return 0
    tickets = {
        ticket.id: ticket
        for ticket in session.exec(
            select(Ticket).where(col(Ticket.id).in_({timer.ticket_id for timer in timers}))
        )
    }
    owners = _Owners(session)
    for timer in timers:
        _alert(session, tickets[timer.ticket_id], timer, owners)
    return len(timers)


def mark_overdue_tasks(session: Session, *, limit: int = 500) -> int:
    """Sweep: each callback past its due time is marked overdue on its ticket, once."""
    now = clock.now()
    query = (
        select(TicketTask)
        .where(
            col(TicketTask.done_at).is_(None),
            col(TicketTask.overdue_at).is_(None),
            col(TicketTask.due_at) <= now,
        )
        .order_by(col(TicketTask.due_at))
        .limit(limit)
    )
    tasks = session.exec(skip_locked(session, query)).all()
    for task in tasks:
        task.overdue_at = now
        session.add(task)
        record(
            session,
            ticket=session.get_one(Ticket, task.ticket_id),
            kind="ticket.task_overdue",
            summary=f"{task.key.replace('_', ' ')} is overdue",
            actor_id=None,
            data={"task": task.key},
        )
    return len(tasks)


def run_monthly_review(session: Session) -> int:
    """Calendar job: the review of the month before, once per month."""
    return review.run_monthly_review(session)


def send_due_review(session: Session) -> int:
    """Calendar job: the review of the month before, sent by itself once it falls due unsent."""
    return review.send_due_review(session)
