"""Working a ticket: assignment, status changes, the initial verification, the handling plan,
resolving and reopening, each moving the SLA timers that depend on it (appeals are
tickets.appeals)."""

from datetime import date, datetime, timedelta

from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.customers.models import Customer
from incident_cmd.errors import Conflict, Invalid, NotFound
from incident_cmd.messaging import direct
from incident_cmd.tickets import sla, surveys
from incident_cmd.tickets.history import SUBJECT, record
from incident_cmd.tickets.models import (
    OPEN_TICKET_STATUSES,
    TICKET_TRANSITIONS,
    Ticket,
    TicketStatus,
    TimerKind,
)
from incident_cmd.tickets.notices import SOURCE, out_of_quiet_hours, to_customer
from incident_cmd.tickets.policy import ServiceLevels, seconds, service_levels
from incident_cmd.tickets.schemas import TicketAction, TicketResolve, TicketVerification
from incident_cmd.timeline import service as timeline


def assign(session: Session, *, ticket: Ticket, username: str, actor: User) -> Ticket:
    try:
        user = auth_service.get_user_by_username(session, username=username)
    except NotFound as exc:
        raise Invalid(exc.message, field="user") from None
    if not user.active:
        raise Invalid(f"user {username!r} is deactivated", field="user")
    if user.role != Role.agent:
        raise Invalid(
            f"user {username!r} is a {user.role}; tickets are assigned only to agents",
            field="user",
        )
    previous = session.get_one(User, ticket.assignee_id).username if ticket.assignee_id else None
    ticket.assignee_id = user.id
    session.add(ticket)
    record(
        session,
        ticket=ticket,
        kind="ticket.assigned",
        summary=f"reassigned from {previous or 'nobody'} to {user.username}",
        actor_id=actor.id,
        data={"from": previous, "to": user.username},
    )
    return ticket


def change_status(session: Session, *, ticket: Ticket, change: TicketAction, actor: User) -> Ticket:
    current, target = TicketStatus(ticket.status), change.status
    if target == TicketStatus.resolved:
        raise Invalid("resolve with POST /tickets/{id}/resolve and a resolution", field="status")
    if target not in TICKET_TRANSITIONS[current]:
        allowed = ", ".join(TICKET_TRANSITIONS[current]) or "none"
        raise Conflict(
            f"cannot move {ticket.number} from {current} to {target} (allowed: {allowed})",
            field="status",
        )
    levels = service_levels()
    now = clock.now()
    if current == TicketStatus.waiting_customer:
        sla.resume(session, ticket=ticket, levels=levels)
    if target == TicketStatus.waiting_customer:
        sla.pause(session, ticket=ticket)
    if ticket.first_response_at is None and target != TicketStatus.closed:
        ticket.first_response_at = now
        sla.meet(session, ticket=ticket, kind=TimerKind.response)
    if target == TicketStatus.closed:
        ticket.closed_at = now
        sla.meet(session, ticket=ticket, kind=TimerKind.close)
    ticket.status = target
    session.add(ticket)
    note = f": {change.note}" if change.note else ""
    record(
        session,
        ticket=ticket,
        kind="ticket.status",
        summary=f"status {current} → {target}{note}",
        actor_id=actor.id,
        data={"from": current, "to": target, "note": change.note},
    )
    return ticket


def _ensure_open(ticket: Ticket, *, doing: str) -> None:
    if ticket.status not in OPEN_TICKET_STATUSES:
        raise Conflict(
            f"{ticket.number} is {ticket.status}; {doing} an open ticket", field="status"
        )


def record_verification(
    session: Session, *, ticket: Ticket, verification: TicketVerification, actor: User
) -> Ticket:
    """Seeds 001 「相关部门接到投诉后,应在接到投诉的3个工作日内进行初步核实。如果投诉属实……」:
    the initial verification, once, substantiated or not, meets its working-days target."""
    _ensure_open(ticket, doing="verify")
    timer = sla.meet(session, ticket=ticket, kind=TimerKind.verification)
    if timer is None:
        raise Conflict(f"{ticket.number} has been verified already", field="outcome")
    outcome = verification.outcome
    record(
        session,
        ticket=ticket,
        kind="ticket.verified",
        summary=f"verified: {outcome.replace('_', ' ')}: {verification.note}",
        actor_id=actor.id,
        data={"outcome": outcome, "note": verification.note, "in_time": timer.met_in_time},
    )
    return ticket


def record_handling_plan(
    session: Session, *, ticket: Ticket, plan: str, actor: User, resolve_by: date | None = None
) -> Ticket:
    """Meets the handling-plan target where the ticket has one. With ``resolve_by`` the
    customer is told that date: seeds 001 「如果不能立即解决,应告知用户解决方案的时间表」."""
    levels = service_levels()
    if resolve_by is not None:
        _ensure_open(ticket, doing="plan")
        today = clock.now().astimezone(levels.zone).date()
        if resolve_by < today:
            raise Invalid(
                f"resolve_by {resolve_by} is in the past (today is {today})", field="resolve_by"
            )
    timer = sla.meet(session, ticket=ticket, kind=TimerKind.handling_plan)
    if timer is None and resolve_by is None:
        raise Conflict(
            f"{ticket.number} has no open handling-plan target; give resolve_by to tell the "
            "customer when it will be resolved",
            field="plan",
        )
    record(
        session,
        ticket=ticket,
        kind="ticket.plan",
        summary=f"handling plan: {plan}",
        actor_id=actor.id,
        data={
            "in_time": timer.met_in_time if timer else None,
            "plan": plan,
            "resolve_by": resolve_by.isoformat() if resolve_by else None,
        },
    )
    if resolve_by is not None:
        _tell_the_timetable(session, ticket=ticket, resolve_by=resolve_by, actor=actor)
    return ticket


def _tell_the_timetable(session: Session, *, ticket: Ticket, resolve_by: date, actor: User) -> None:
    told = [
        event.data["resolve_by"]
        for event in timeline.events_for(session, subject_type=SUBJECT, subject_id=ticket.id)
        if event.kind == "ticket.timetable"
    ]
    if told and told[-1] == resolve_by.isoformat():
        return  # the date the customer was last told: nothing new to tell
    customer = session.get_one(Customer, ticket.customer_id)
    to_customer(
        session,
        ticket=ticket,
        customer=customer,
        template="ticket_plan",
        key=f"ticket-{ticket.id}-plan-{len(told) + 1}",
        values={"resolve_by": resolve_by.isoformat()},
        due_at=out_of_quiet_hours(clock.now(), customer),
    )
    record(
        session,
        ticket=ticket,
        kind="ticket.timetable",
        summary=f"the customer is told it will be resolved by {resolve_by.isoformat()}",
        actor_id=actor.id,
        data={"resolve_by": resolve_by.isoformat()},
    )


def resolve(session: Session, *, ticket: Ticket, data: TicketResolve, actor: User) -> Ticket:
    current = TicketStatus(ticket.status)
    if TicketStatus.resolved not in TICKET_TRANSITIONS[current]:
        raise Conflict(f"{ticket.number} is {current}; it cannot be resolved", field="status")
    levels = service_levels()
    now = clock.now()
    if current == TicketStatus.waiting_customer:
        sla.resume(session, ticket=ticket, levels=levels)
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        sla.meet(session, ticket=ticket, kind=TimerKind.response)
    sla.meet(session, ticket=ticket, kind=TimerKind.resolution)
    # Resolved before it was verified: the resolution answered the complaint, and the
    # verification clock must not alert on a resolved ticket.
    sla.meet(session, ticket=ticket, kind=TimerKind.verification)
    ticket.status = TicketStatus.resolved
    ticket.resolved_at = now
    ticket.resolution = data.resolution
    ticket.responsible_department = data.responsible_department
    # Validated as an exact decimal; the column and the timeline keep a float.
    compensation = float(data.compensation_amount) if data.compensation_amount is not None else None
    ticket.compensation_amount = compensation
    ticket.survey_due_at = now + timedelta(seconds=seconds(levels.survey_after))
    session.add(ticket)
    record(
        session,
        ticket=ticket,
        kind="ticket.resolved",
        summary=f"resolved: {data.resolution}",
        actor_id=actor.id,
        data={
            "department": data.responsible_department,
            "compensation": compensation,
            "resolution": data.resolution,
        },
    )
    customer = session.get_one(Customer, ticket.customer_id)
    attempt = ticket.reopened_count
    to_customer(
        session,
        ticket=ticket,
        customer=customer,
        template="ticket_resolved",
        key=f"ticket-{ticket.id}-resolved-{attempt}",
        values={"resolution": data.resolution},
        due_at=out_of_quiet_hours(now, customer),
    )
    to_customer(
        session,
        ticket=ticket,
        customer=customer,
        template="ticket_survey",
        key=surveys.csat_key(ticket),
        values=surveys.invitation_values(ticket),
        due_at=out_of_quiet_hours(ticket.survey_due_at, customer),
    )
    return ticket


def _within(moment: datetime | None, window: str) -> bool:
    return moment is not None and clock.now() <= moment + timedelta(seconds=seconds(window))


def reopen(session: Session, *, ticket: Ticket, reason: str, actor: User) -> Ticket:
    """A resolved ticket reopens within ``reopen_within``; the resolution clock restarts."""
    levels = service_levels()
    if ticket.status != TicketStatus.resolved:
        raise Conflict(
            f"{ticket.number} is {ticket.status}; only a resolved ticket reopens", field="status"
        )
    if not _within(ticket.resolved_at, levels.reopen_within):
        raise Conflict(
            f"{ticket.number} was resolved more than {levels.reopen_within} ago; "
            "open a new ticket or register an appeal",
            field="status",
        )
    return _reopen(
        session, ticket=ticket, levels=levels, reason=reason, actor=actor, kind="ticket.reopened"
    )


def _reopen(
    session: Session,
    *,
    ticket: Ticket,
    levels: ServiceLevels,
    reason: str,
    actor: User,
    kind: str,
) -> Ticket:
    previous = ticket.status
    ticket.status = TicketStatus.in_progress
    ticket.reopened_count += 1
    ticket.resolved_at = ticket.closed_at = ticket.survey_due_at = None
    session.add(ticket)
    for timer in sla.timers_of(session, ticket=ticket):
        if timer.kind in (TimerKind.resolution, TimerKind.close):
            session.delete(timer)
    session.flush()
    tier = levels.tier(ticket.priority)
    sla.start_timer(
        session, ticket=ticket, kind=TimerKind.resolution, target=tier.resolve, levels=levels
    )
    sla.start_timer(
        session, ticket=ticket, kind=TimerKind.close, target=levels.close_within, levels=levels
    )
    direct.cancel_pending(session, source=SOURCE, source_ids=[ticket.id])
    record(
        session,
        ticket=ticket,
        kind=kind,
        summary=f"{previous} → in_progress: {reason}",
        actor_id=actor.id,
        data={"reason": reason},
    )
    return ticket
