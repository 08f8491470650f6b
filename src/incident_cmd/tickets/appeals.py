"""Appeals against a ticket's result, after seeds 001 六 (申诉处理流程):
「1. 客户可以通过公司提供的申诉渠道,向公司提出进一步申诉;2. 公司将对申诉进行登记,并由专人负责调查
核实;3. 公司将尽快处理申诉,并向客户反馈处理结果;4. 若客户对申诉处理结果仍不满意,客户可以向相关监管
部门或仲裁机构投诉或申诉。」

An appeal is registered against a resolved or closed ticket, named a handler from the appeals
team by a supervisor (never one of the people who handled the ticket), investigated with
notes, and answered with an outcome; the answer goes to the customer with the route to the
regulator. Its two targets (respond, answer) are the ticket's ``appeal_*`` SLA timers, swept
like the ticket's own; a ticket has one open appeal at a time."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.customers.models import Customer
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.i18n import Locale
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.tickets import sla
from incident_cmd.tickets.access import OVERSEERS
from incident_cmd.tickets.access import owner as ticket_owner
from incident_cmd.tickets.history import SUBJECT, record
from incident_cmd.tickets.models import (
    Appeal,
    AppealStatus,
    SlaTimer,
    Ticket,
    TicketStatus,
    TimerKind,
)
from incident_cmd.tickets.notices import out_of_quiet_hours, to_customer
from incident_cmd.tickets.policy import ServiceLevels, seconds, service_levels
from incident_cmd.tickets.schemas import AppealAnswer, AppealCreate
from incident_cmd.timeline import service as timeline

APPEAL_TIMERS = (TimerKind.appeal_response, TimerKind.appeal_answer)
# Whoever may hold an appeal must be able to act on it: the roles that work the queue.
HANDLER_ROLES = (Role.agent, Role.responder, Role.duty_manager, Role.admin)
APPEALABLE = (TicketStatus.resolved, TicketStatus.closed)


def get_appeal(session: Session, *, appeal_id: int) -> Appeal:
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound(f"no appeal {appeal_id}")
    return appeal


def appeals_of(session: Session, *, ticket: Ticket) -> Sequence[Appeal]:
    return session.exec(
        select(Appeal).where(Appeal.ticket_id == ticket.id).order_by(col(Appeal.id))
    ).all()


def open_appeal(session: Session, *, ticket: Ticket) -> Appeal | None:
    return session.exec(
        select(Appeal).where(Appeal.ticket_id == ticket.id, Appeal.status != AppealStatus.answered)
    ).first()


def timers_of(session: Session, *, appeal: Appeal) -> list[SlaTimer]:
    """The open appeal's targets; an answered appeal keeps only how they went."""
    if appeal.status == AppealStatus.answered:
        return []
    return [
        timer
        for timer in sla.timers_of(session, ticket=session.get_one(Ticket, appeal.ticket_id))
        if timer.kind in APPEAL_TIMERS
    ]


def notes_of(session: Session, *, appeal: Appeal) -> list[tuple[datetime, int | None, str]]:
    """(when, by whom, note) of each investigation note, oldest first."""
    return [
        (event.at, event.actor_id, event.data["note"])
        for event in timeline.events_for(session, subject_type=SUBJECT, subject_id=appeal.ticket_id)
        if event.kind == "ticket.appeal_note" and event.data.get("appeal_id") == appeal.id
    ]


def _team(session: Session, levels: ServiceLevels) -> Team:
    team = session.exec(select(Team).where(Team.key == levels.appeals.team)).first()
    if team is None:
        raise Conflict(
            f"the appeals team {levels.appeals.team!r} (appeals.team in the service-level "
            "file) does not exist",
            field="handler",
        )
    return team


def _in_team(session: Session, team: Team, user: User) -> bool:
    return team.lead_user_id == user.id or session.get(TeamMember, (team.id, user.id)) is not None


def own_agents(session: Session, *, ticket: Ticket) -> set[int]:
    """Everyone who handled the ticket: each person it was ever assigned to, and whoever
    resolved it. None of them may investigate an appeal against it (专人, seeds 001)."""
    assigned: set[str] = set()
    ids = {ticket.assignee_id} - {None}
    for event in timeline.events_for(session, subject_type=SUBJECT, subject_id=ticket.id):
        if event.kind == "ticket.assigned":
            assigned |= {event.data[key] for key in ("user", "to") if event.data.get(key)}
        elif event.kind == "ticket.resolved" and event.actor_id is not None:
            ids.add(event.actor_id)
    if assigned:
        ids |= set(session.exec(select(User.id).where(col(User.username).in_(assigned))).all())
    return {user_id for user_id in ids if user_id is not None}


def may_assign(session: Session, *, actor: User) -> bool:
    """Duty managers, admins and the appeals team's lead name an appeal's handler."""
    if actor.role in OVERSEERS:
        return True
    team = session.exec(select(Team).where(Team.key == service_levels().appeals.team)).first()
    return team is not None and team.lead_user_id == actor.id


def register(session: Session, *, ticket: Ticket, data: AppealCreate, actor: User) -> Appeal:
    """Seeds 001 六-2 「公司将对申诉进行登记」: the appeal, its grounds, and its two targets."""
    levels = service_levels()
    status = TicketStatus(ticket.status)
    if status not in APPEALABLE:
        raise Conflict(
            f"{ticket.number} is {status}: an appeal is against a result, once the ticket is "
            "resolved; until then the ticket itself is being worked on",
            field="status",
        )
    pending = open_appeal(session, ticket=ticket)
    if pending is not None:
        raise Conflict(
            f"{ticket.number} has appeal {pending.id} open: add the customer's words to it as "
            "an investigation note",
            field="ticket",
        )
    now = clock.now()
    received = data.received_at or now
    if received > now:
        raise Invalid(f"received_at {received.isoformat()} is in the future", field="received_at")
    given = ticket.resolved_at or ticket.closed_at
    if given is not None and received < given:
        raise Invalid(
            f"received_at {received.isoformat()} is before the result was given "
            f"({given.isoformat()})",
            field="received_at",
        )
    window = levels.appeals.window
    # Off unless the organisation sets it: the seeds put no limit on the right to appeal.
    if (
        window is not None
        and given is not None
        and (received - given).total_seconds() > seconds(window)
    ):
        raise Conflict(
            f"{ticket.number}'s result was given on {given.isoformat()}, more than {window} "
            "before this appeal (appeals.window in the service-level file)",
            field="received_at",
        )
    customer = session.get_one(Customer, ticket.customer_id)
    # An answered appeal's timers are done with; its row keeps whether each was in time.
    for timer in sla.timers_of(session, ticket=ticket):
        if timer.kind in APPEAL_TIMERS:
            session.delete(timer)
    session.flush()
    appeal = Appeal(
        ticket_id=ticket.id,
        status=AppealStatus.registered,
        appellant=data.appellant or customer.name,
        channel=data.channel,
        grounds=data.grounds,
        received_at=received,
        registered_at=now,
        registered_by=actor.id,
        team_key=levels.appeals.team,
    )
    session.add(appeal)
    ticket.appealed_at = now
    session.add(ticket)
    session.flush()
    respond = sla.start_timer(
        session,
        ticket=ticket,
        kind=TimerKind.appeal_response,
        target=levels.appeals.respond,
        levels=levels,
    )
    answer = sla.start_timer(
        session,
        ticket=ticket,
        kind=TimerKind.appeal_answer,
        target=levels.appeal_answer_target,
        levels=levels,
    )
    record(
        session,
        ticket=ticket,
        kind="ticket.appealed",
        summary=f"appeal {appeal.id} registered ({data.channel}, by {appeal.appellant}): "
        f"{data.grounds}",
        actor_id=actor.id,
        data={
            "appeal_id": appeal.id,
            "reason": data.grounds,
            "channel": data.channel,
            "appellant": appeal.appellant,
            "received_at": received.isoformat(),
            "respond_by": respond.due_at.isoformat(),
            "answer_by": answer.due_at.isoformat(),
        },
    )
    return appeal


def assign(
    session: Session, *, appeal: Appeal, ticket: Ticket, username: str, actor: User
) -> Appeal:
    """Seeds 001 六-2 「由专人负责调查核实」: a member of the appeals team who never handled the
    ticket, named by a duty manager, an admin or the appeals team's lead."""
    if not may_assign(session, actor=actor):
        raise Forbidden(
            "an appeal's handler is named by a duty manager, an admin or the lead of the "
            "appeals team"
        )
    if appeal.status == AppealStatus.answered:
        raise Conflict(f"appeal {appeal.id} has been answered", field="status")
    try:
        user = auth_service.get_user_by_username(session, username=username)
    except NotFound as exc:
        raise Invalid(exc.message, field="handler") from None
    if not user.active:
        raise Invalid(f"user {username!r} is deactivated", field="handler")
    if user.role not in HANDLER_ROLES:
        raise Invalid(
            f"user {username!r} is a {user.role} and cannot act on appeals", field="handler"
        )
    if user.id in own_agents(session, ticket=ticket):
        raise Invalid(
            f"{username} handled {ticket.number}; an appeal against it is investigated by "
            "someone who did not",
            field="handler",
        )
    team = _team(session, service_levels())
    if not _in_team(session, team, user):
        raise Invalid(f"{username} is not in the appeals team {team.key!r}", field="handler")
    previous = session.get(User, appeal.handler_id) if appeal.handler_id else None
    appeal.handler_id = user.id
    appeal.assigned_at = clock.now()
    appeal.assigned_by = actor.id
    appeal.status = AppealStatus.investigating
    session.add(appeal)
    record(
        session,
        ticket=ticket,
        kind="ticket.appeal_assigned",
        summary=f"appeal {appeal.id} handed to {user.username}"
        + (f" (was {previous.username})" if previous else ""),
        actor_id=actor.id,
        data={
            "appeal_id": appeal.id,
            "from": previous.username if previous else None,
            "to": user.username,
        },
    )
    return appeal


def _ensure_handler(appeal: Appeal, actor: User) -> None:
    if appeal.status == AppealStatus.answered:
        raise Conflict(f"appeal {appeal.id} has been answered", field="status")
    if appeal.handler_id is None or appeal.handler_id != actor.id:
        raise Forbidden(
            f"appeal {appeal.id} is investigated and answered by its designated handler only"
            + ("" if appeal.handler_id else "; none has been named yet")
        )


def _meet(session: Session, ticket: Ticket, kind: TimerKind) -> bool | None:
    timer = sla.meet(session, ticket=ticket, kind=kind)
    return timer.met_in_time if timer else None


def add_note(session: Session, *, appeal: Appeal, ticket: Ticket, note: str, actor: User) -> Appeal:
    """What the investigation found or did; the handler's first note is the response to
    the customer's appeal and meets its respond-by target."""
    _ensure_handler(appeal, actor)
    if appeal.responded_at is None:
        appeal.responded_at = clock.now()
        appeal.responded_in_time = _meet(session, ticket, TimerKind.appeal_response)
        session.add(appeal)
    record(
        session,
        ticket=ticket,
        kind="ticket.appeal_note",
        summary=f"appeal {appeal.id}: {note}",
        actor_id=actor.id,
        data={"appeal_id": appeal.id, "note": note},
    )
    return appeal


def answer(
    session: Session, *, appeal: Appeal, ticket: Ticket, data: AppealAnswer, actor: User
) -> Appeal:
    """Seeds 001 六-3/4: the result fed back to the customer, who is told where to go if still
    unhappy (the regulator, arbitration: ``appeals.regulator_route``)."""
    _ensure_handler(appeal, actor)
    levels = service_levels()
    now = clock.now()
    if appeal.responded_at is None:
        appeal.responded_at = now
        appeal.responded_in_time = _meet(session, ticket, TimerKind.appeal_response)
    appeal.answered_in_time = _meet(session, ticket, TimerKind.appeal_answer)
    appeal.status = AppealStatus.answered
    appeal.outcome = data.outcome
    appeal.answer = data.answer
    appeal.answered_at = now
    appeal.answered_by = actor.id
    session.add(appeal)
    record(
        session,
        ticket=ticket,
        kind="ticket.appeal_answered",
        summary=f"appeal {appeal.id} {data.outcome.replace('_', ' ')}: {data.answer}",
        actor_id=actor.id,
        data={
            "appeal_id": appeal.id,
            "outcome": data.outcome,
            "answer": data.answer,
            "in_time": appeal.answered_in_time,
        },
    )
    customer = session.get_one(Customer, ticket.customer_id)
    to_customer(
        session,
        ticket=ticket,
        customer=customer,
        template="ticket_appeal_answer",
        key=f"ticket-{ticket.id}-appeal-{appeal.id}-answer",
        values={
            "outcome": data.outcome.value,
            "answer": data.answer,
            "regulator": levels.appeals.regulator_route[Locale(customer.locale)],
        },
        due_at=out_of_quiet_hours(now, customer),
    )
    return appeal


def alerted(session: Session, *, ticket: Ticket, who: str) -> User | None:
    """Whom an appeal target's stage concerns: at the warning its handler (the appeals team's
    lead while none is named), at the breach that lead, at the second the duty manager."""
    appeal = open_appeal(session, ticket=ticket)
    if who == "duty_manager" or appeal is None:
        return ticket_owner(session, ticket=ticket, who="duty_manager")
    if who == "assignee" and appeal.handler_id is not None:
        return session.get(User, appeal.handler_id)
    team = session.exec(select(Team).where(Team.key == appeal.team_key)).first()
    return session.get(User, team.lead_user_id) if team and team.lead_user_id else None
