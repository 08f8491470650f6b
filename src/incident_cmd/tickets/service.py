"""The complaint queue: intake, classification, assignment, the lifecycle, customer messages,
satisfaction and the three-level callback."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import literal, union_all
from sqlmodel import Session, col, func, select

from incident_cmd import clock, numbering
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.customers import service as customer_service
from incident_cmd.customers.models import Customer
from incident_cmd.db import skip_locked
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.messaging import direct
from incident_cmd.messaging.templates import templates_for
from incident_cmd.notify import service as notify_service
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.tickets import sla
from incident_cmd.tickets.models import (
    OPEN_TICKET_STATUSES,
    TICKET_TRANSITIONS,
    SlaTimer,
    Ticket,
    TicketStatus,
    TicketTask,
    TimerKind,
)
from incident_cmd.tickets.policy import ServiceLevels, seconds, service_levels
from incident_cmd.tickets.schemas import (
    SurveyAnswer,
    SurveyEntry,
    TicketAction,
    TicketCreate,
    TicketResolve,
)
from incident_cmd.timeline import service as timeline

SUBJECT = "ticket"
SOURCE = "ticket"


def _record(
    session: Session,
    ticket: Ticket,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict | None = None,
) -> None:
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=ticket.id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data=data,
    )


def get_ticket(session: Session, *, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


# --- who may act on a ticket ------------------------------------------------------------------

OVERSEERS = (Role.admin, Role.duty_manager)


def _team_of(session: Session, ticket: Ticket) -> Team | None:
    return session.exec(select(Team).where(Team.key == ticket.team_key)).first()


def may_work_on(session: Session, *, ticket: Ticket, actor: User) -> bool:
    """Its assignee, its team (members and lead), duty managers and admins."""
    if actor.role in OVERSEERS or ticket.assignee_id == actor.id:
        return True
    team = _team_of(session, ticket)
    return team is not None and (
        team.lead_user_id == actor.id or session.get(TeamMember, (team.id, actor.id)) is not None
    )


def ensure_may_work_on(session: Session, *, ticket: Ticket, actor: User) -> None:
    if not may_work_on(session, ticket=ticket, actor=actor):
        raise Forbidden(
            f"{ticket.number} belongs to team {ticket.team_key!r} and is not assigned to you: "
            "you may act only on tickets assigned to you or to your team"
        )


def is_supervisor(session: Session, *, ticket: Ticket, actor: User) -> bool:
    """The lead of the ticket's team, a duty manager or an admin."""
    if actor.role in OVERSEERS:
        return True
    team = _team_of(session, ticket)
    return team is not None and team.lead_user_id == actor.id


# --- intake -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    category: str
    priority: str
    safety: bool
    rules: tuple[int, ...]


def classify(levels: ServiceLevels, data: TicketCreate) -> Classification:
    """Category and priority as the intake form gives them, else from the first matching
    rule for each; a matching safety rule marks the ticket safety-related."""
    category, priority, safety, rule_numbers = data.category, data.priority, False, []
    for number, rule in enumerate(levels.classification, start=1):
        if not rule.matches(data.description, data.channel, data.requested):
            continue
        if rule.category and category is None:
            category = rule.category
            rule_numbers.append(number)
        if rule.priority and priority is None:
            priority = rule.priority
            rule_numbers.append(number)
        safety = safety or rule.safety
    return Classification(
        category or "other", priority or "routine", safety, tuple(sorted(set(rule_numbers)))
    )


def _members(session: Session, team_key: str) -> list[User]:
    try:
        team = team_service.get_team(session, key=team_key)
    except NotFound:
        raise Invalid(
            f"the service-level file names team {team_key!r}, which does not exist",
            field="category",
        ) from None
    return list(
        session.exec(
            select(User)
            .join(TeamMember, col(TeamMember.user_id) == User.id)
            .where(TeamMember.team_id == team.id, User.active, User.role == "agent")
            .order_by(User.id)
        ).all()
    )


def _choose_agent(session: Session, levels: ServiceLevels, team_key: str) -> User | None:
    agents = _members(session, team_key)
    if not agents:
        return None
    if levels.assignment.strategy == "round_robin":
        turn = numbering.next_value(session, f"round-robin:{team_key}")
        return agents[(turn - 1) % len(agents)]
    loads = _open_loads(session, agents)
    return min(agents, key=lambda agent: (loads[agent.id], agent.id))


# Beyond this many open tickets agents count as equally loaded: counting further would cost
# every intake a scan of the whole backlog.
LOAD_CAP = 500


def _open_loads(session: Session, agents: list[User]) -> dict[int, int]:
    """Each agent's open tickets, up to the cap, in one statement."""
    counts = [
        select(literal(agent.id).label("agent"), func.count().label("load")).select_from(
            select(Ticket.id)
            .where(Ticket.assignee_id == agent.id, col(Ticket.status).in_(OPEN_TICKET_STATUSES))
            .limit(LOAD_CAP)
            .subquery()
        )
        for agent in agents
    ]
    return dict(session.execute(union_all(*counts)).all())


def create_ticket(
    session: Session, *, data: TicketCreate, actor: User | None, incident_finder=None
) -> Ticket:
    """Takes a complaint in: classified, assigned, timed and linked to an active incident
    whose scope it falls in. ``number_and_acknowledge`` finishes the intake."""
    levels = service_levels()
    found = classify(levels, data)
    category, priority, safety = found.category, found.priority, found.safety
    customer = customer_service.find_or_create(
        session,
        phone=data.phone,
        email=str(data.email) if data.email else None,
        name=data.customer_name,
        locale=data.locale,
        region=data.region,
    )
    now = clock.now()
    team_key = levels.assignment.team_for(category)
    agent = _choose_agent(session, levels, team_key)
    ticket = Ticket(
        customer_id=customer.id,
        contact=data.phone or str(data.email),
        channel=data.channel,
        category=category,
        priority=priority,
        safety=safety,
        product_model=data.product_model,
        batch=data.batch,
        region=data.region or customer.region,
        purchase_channel=data.purchase_channel,
        description=data.description,
        requested=data.requested,
        status=TicketStatus.new,
        team_key=team_key,
        assignee_id=agent.id if agent else None,
        created_at=now,
        created_by=actor.id if actor else None,
    )
    session.add(ticket)
    session.flush()
    how = f"rules {', '.join(map(str, found.rules))}" if found.rules else "intake form"
    _record(
        session,
        ticket,
        "ticket.created",
        f"taken in by {data.channel}: {category}, {priority}"
        + (", safety" if safety else "")
        + f" ({how})",
        actor.id if actor else None,
        {"category": category, "priority": priority, "safety": safety},
    )
    if agent is not None:
        _record(
            session,
            ticket,
            "ticket.assigned",
            f"assigned to {agent.username}",
            None,
            {"user": agent.username, "strategy": levels.assignment.strategy},
        )
    _start_timers(session, ticket, levels)
    incident = incident_finder(session, ticket) if incident_finder else None
    if incident is not None:
        ticket.incident_id = incident.id
        session.add(ticket)
        _record(
            session,
            ticket,
            "ticket.linked",
            f"linked to incident {incident.number}",
            None,
            {"incident": incident.number},
        )
    return ticket


def number_and_acknowledge(session: Session, *, ticket: Ticket) -> Ticket:
    """The last step of an intake. Numbers are counted per year in one row, which stays
    locked until the transaction ends: taking the number last keeps that wait short when
    many tickets come in at once."""
    ticket.number = numbering.next_number(
        session, prefix="TKT", year=ticket.created_at.year, width=6
    )
    session.add(ticket)
    customer = session.get(Customer, ticket.customer_id)
    incident = session.get(Incident, ticket.incident_id) if ticket.incident_id else None
    _acknowledge_to_customer(session, ticket, customer, incident)
    return ticket


def _start_timers(session: Session, ticket: Ticket, levels: ServiceLevels) -> None:
    tier = levels.tier(ticket.priority)
    sla.start_timer(
        session, ticket=ticket, kind=TimerKind.response, target=tier.respond, levels=levels
    )
    sla.start_timer(
        session, ticket=ticket, kind=TimerKind.resolution, target=tier.resolve, levels=levels
    )
    sla.start_timer(
        session, ticket=ticket, kind=TimerKind.close, target=levels.close_within, levels=levels
    )
    if ticket.category in levels.handling_plan.categories:
        sla.start_timer(
            session,
            ticket=ticket,
            kind=TimerKind.handling_plan,
            target=levels.handling_plan.within,
            levels=levels,
        )


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _to_customer(
    session: Session,
    ticket: Ticket,
    customer: Customer,
    template: str,
    key: str,
    values: dict,
    due_at: datetime | None = None,
) -> None:
    channel = "email" if "@" in ticket.contact else "sms"
    if notify_service.is_suppressed(session, channel=channel, address=ticket.contact):
        return
    context = {
        "organisation": get_settings().organisation_name,
        "number": ticket.number,
        "customer": {"name": customer.name},
        **values,
    }
    rendered = templates_for(get_settings().template_dir).render(
        template, channel, customer.locale, context
    )
    direct.enqueue(
        session,
        key=key,
        source=SOURCE,
        source_id=ticket.id,
        subject=(SUBJECT, ticket.id),
        label=f"{template.replace('_', ' ')} to the customer",
        channel=channel,
        address=ticket.contact,
        locale=customer.locale,
        rendered=rendered,
        customer_id=customer.id,
        due_at=due_at,
    )


def _acknowledge_to_customer(session, ticket, customer, incident) -> None:
    response = session.exec(
        select(SlaTimer).where(SlaTimer.ticket_id == ticket.id, SlaTimer.kind == "response")
    ).one()
    _to_customer(
        session,
        ticket,
        customer,
        "ticket_ack",
        f"ticket-{ticket.id}-ack",
        {
            "respond_by": _local(response.due_at, customer.timezone),
            "status_url": notify_service.status_url(incident.number) if incident else None,
        },
    )


# --- working the queue ---------------------------------------------------------------------


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
    previous = session.get(User, ticket.assignee_id).username if ticket.assignee_id else None
    ticket.assignee_id = user.id
    session.add(ticket)
    _record(
        session,
        ticket,
        "ticket.assigned",
        f"reassigned from {previous or 'nobody'} to {user.username}",
        actor.id,
        {"from": previous, "to": user.username},
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
    _record(
        session,
        ticket,
        "ticket.status",
        f"status {current} → {target}{note}",
        actor.id,
        {"from": current, "to": target, "note": change.note},
    )
    return ticket


def record_handling_plan(session: Session, *, ticket: Ticket, plan: str, actor: User) -> Ticket:
    timer = sla.meet(session, ticket=ticket, kind=TimerKind.handling_plan)
    if timer is None:
        raise Conflict(f"{ticket.number} has no open handling-plan target", field="plan")
    _record(
        session,
        ticket,
        "ticket.plan",
        f"handling plan: {plan}",
        actor.id,
        {"in_time": timer.met_in_time},
    )
    return ticket


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
    ticket.status = TicketStatus.resolved
    ticket.resolved_at = now
    ticket.resolution = data.resolution
    ticket.responsible_department = data.responsible_department
    # Validated as an exact decimal; the column and the timeline keep a float.
    compensation = float(data.compensation_amount) if data.compensation_amount is not None else None
    ticket.compensation_amount = compensation
    ticket.survey_due_at = now + timedelta(seconds=seconds(levels.survey_after))
    session.add(ticket)
    _record(
        session,
        ticket,
        "ticket.resolved",
        f"resolved: {data.resolution}",
        actor.id,
        {"department": data.responsible_department, "compensation": compensation},
    )
    customer = session.get(Customer, ticket.customer_id)
    attempt = ticket.reopened_count
    _to_customer(
        session,
        ticket,
        customer,
        "ticket_resolved",
        f"ticket-{ticket.id}-resolved-{attempt}",
        {"resolution": data.resolution},
        due_at=_out_of_quiet_hours(now, customer),
    )
    _to_customer(
        session,
        ticket,
        customer,
        "ticket_survey",
        f"ticket-{ticket.id}-survey-{attempt}",
        {},
        due_at=_out_of_quiet_hours(ticket.survey_due_at, customer),
    )
    return ticket


def _out_of_quiet_hours(moment: datetime, customer: Customer) -> datetime:
    """A survey is no emergency: it waits for the customer's morning."""
    return notify_service.quiet_hours_end(customer.timezone, moment) or moment


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
            "open a new ticket or appeal after it is closed",
            field="status",
        )
    return _reopen(session, ticket, levels, reason, actor, "ticket.reopened")


def appeal(session: Session, *, ticket: Ticket, reason: str, actor: User) -> Ticket:
    """A closed ticket comes back on appeal within ``appeal_within`` of closing."""
    levels = service_levels()
    if ticket.status != TicketStatus.closed:
        raise Conflict(
            f"{ticket.number} is {ticket.status}; appeals are for closed tickets", field="status"
        )
    if not _within(ticket.closed_at, levels.appeal_within):
        raise Conflict(
            f"{ticket.number} was closed more than {levels.appeal_within} ago", field="status"
        )
    ticket.appealed_at = clock.now()
    return _reopen(session, ticket, levels, reason, actor, "ticket.appealed")


def _reopen(session, ticket, levels, reason, actor, kind) -> Ticket:
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
    _record(
        session, ticket, kind, f"{previous} → in_progress: {reason}", actor.id, {"reason": reason}
    )
    return ticket


# --- satisfaction and the three-level callback ----------------------------------------------


def _scores(answer: SurveyAnswer) -> str:
    return f"CSAT {answer.csat or '-'}, NPS {answer.nps if answer.nps is not None else '-'}"


def _store_survey(
    session: Session,
    ticket: Ticket,
    answer: SurveyAnswer,
    summary: str,
    actor_id: int | None,
    data: dict,
) -> Ticket:
    if ticket.resolved_at is None:
        raise Conflict(f"{ticket.number} is not resolved; there is nothing to rate yet")
    if ticket.surveyed_at is not None:
        return ticket  # the first answer counts; a repeated message changes nothing
    ticket.csat, ticket.nps, ticket.survey_comment = answer.csat, answer.nps, answer.comment
    ticket.surveyed_at = clock.now()
    session.add(ticket)
    _record(
        session,
        ticket,
        "ticket.survey",
        summary,
        actor_id,
        {"csat": answer.csat, "nps": answer.nps, **data},
    )
    if answer.csat is not None and answer.csat <= 2:
        _open_callbacks(session, ticket)
    return ticket


def record_survey(session: Session, *, ticket: Ticket, answer: SurveyAnswer, via: str) -> Ticket:
    """The customer's own answer, by SMS reply."""
    return _store_survey(
        session, ticket, answer, f"satisfaction by {via}: {_scores(answer)}", None, {"via": via}
    )


def enter_survey(session: Session, *, ticket: Ticket, entry: SurveyEntry, actor: User) -> Ticket:
    """An answer the customer gave another way (a call, a letter), entered by a supervisor
    with the reason: the agent whose work is rated never enters it."""
    if not is_supervisor(session, ticket=ticket, actor=actor):
        raise Forbidden(
            f"only the customer (by SMS) or a supervisor of team {ticket.team_key!r} "
            "(its lead or a duty manager) records the satisfaction of a ticket"
        )
    return _store_survey(
        session,
        ticket,
        entry,
        f"satisfaction entered by {actor.username}: {_scores(entry)}; reason: {entry.reason}",
        actor.id,
        {"via": "supervisor", "entered_by": actor.username, "reason": entry.reason},
    )


def _owner(session: Session, ticket: Ticket, who: str) -> User | None:
    if who == "assignee":
        return session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    if who == "supervisor":
        team = team_service.get_team(session, key=ticket.team_key)
        return session.get(User, team.lead_user_id) if team.lead_user_id else None
    on_call = team_service.responders(
        session, team_key="duty-managers", rotation_name=None, at=clock.now(), count=1
    )
    return on_call[0] if on_call else None


def _open_callbacks(session: Session, ticket: Ticket) -> None:
    """Seeds 001: an unhappy customer is called back by the agent within an hour, the
    supervisor within a day and a senior manager within two."""
    now = clock.now()
    for callback in service_levels().callbacks:
        owner = _owner(session, ticket, callback.who)
        session.add(
            TicketTask(
                ticket_id=ticket.id,
                key=f"callback_{callback.key}",
                owner_id=owner.id if owner else None,
                due_at=now + timedelta(seconds=seconds(callback.within)),
            )
        )
        _record(
            session,
            ticket,
            "ticket.callback",
            f"callback by {callback.key.replace('_', ' ')} "
            f"({owner.username if owner else 'nobody on duty'}) due within {callback.within}",
            None,
            {"key": callback.key, "owner": owner.username if owner else None},
        )


def tasks_of(session: Session, *, ticket: Ticket) -> Sequence[TicketTask]:
    return session.exec(
        select(TicketTask).where(TicketTask.ticket_id == ticket.id).order_by(TicketTask.id)
    ).all()


def complete_task(
    session: Session, *, ticket: Ticket, task_id: int, note: str, actor: User
) -> TicketTask:
    task = session.get(TicketTask, task_id)
    if task is None or task.ticket_id != ticket.id:
        raise NotFound(f"{ticket.number} has no task {task_id}")
    if task.owner_id != actor.id:
        ensure_may_work_on(session, ticket=ticket, actor=actor)
    if task.done_at is None:
        task.done_at, task.done_by, task.note = clock.now(), actor.id, note
        session.add(task)
        _record(
            session,
            ticket,
            "ticket.task_done",
            f"{task.key.replace('_', ' ')} done: {note}",
            actor.id,
            {"task": task.key},
        )
    return task


def mark_overdue_tasks(session: Session, *, limit: int = 500) -> int:
    now = clock.now()
    query = (
        select(TicketTask)
        .where(
            col(TicketTask.done_at).is_(None),
            col(TicketTask.overdue_at).is_(None),
            col(TicketTask.due_at) <= now,
        )
        .order_by(TicketTask.due_at)
        .limit(limit)
    )
    query = skip_locked(session, query)
    tasks = session.exec(query).all()
    for task in tasks:
        task.overdue_at = now
        session.add(task)
        _record(
            session,
            session.get(Ticket, task.ticket_id),
            "ticket.task_overdue",
            f"{task.key.replace('_', ' ')} is overdue",
            None,
            {"task": task.key},
        )
    return len(tasks)


# --- SLA warnings and breaches ----------------------------------------------------------------

TIMER_NAMES = {
    "response": "first response",
    "resolution": "resolution",
    "handling_plan": "handling plan",
    "close": "close",
}


class _Owners:
    """Who a stage concerns, looked up once per sweep for each team and assignee."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._found: dict[tuple[str, object], User | None] = {}

    def __call__(self, ticket: Ticket, who: str) -> User | None:
        key = (who, ticket.assignee_id if who == "assignee" else ticket.team_key)
        if key not in self._found:
            self._found[key] = _owner(self.session, ticket, who)
        return self._found[key]


ALERTED = {"warned": "assignee", "breached": "supervisor", "breached twice": "duty_manager"}


def _alert(session: Session, ticket: Ticket, timer: SlaTimer, owners: _Owners) -> None:
    """At the warning the assignee hears, at the breach the supervisor, at the second breach
    the duty manager; each once, on the ticket's timeline and by message."""
    stage = sla.stage_name(timer)
    who = ALERTED[stage]
    owner = owners(ticket, who)
    if stage != "warned":
        ticket.breach_state = "breached"
    elif ticket.breach_state == "ok":
        ticket.breach_state = "warning"
    session.add(ticket)
    name = TIMER_NAMES[timer.kind]
    _record(
        session,
        ticket,
        f"sla.{stage.replace(' ', '_')}",
        f"{name} target {stage} (due {timer.due_at.isoformat()}); "
        f"{who.replace('_', ' ')} {owner.username if owner else 'unknown'} told",
        None,
        {"timer": timer.kind, "stage": stage, "told": owner.username if owner else None},
    )
    address = owner and (owner.phone or owner.email)
    if not address:
        return
    channel = "sms" if owner.phone else "email"
    rendered = templates_for(get_settings().template_dir).render(
        "ticket_alert",
        channel,
        owner.locale,
        {
            "organisation": get_settings().organisation_name,
            "number": ticket.number,
            "priority": ticket.priority,
            "timer": name,
            "stage": stage,
            "due": _local(timer.due_at, owner.timezone),
            "note": "",
        },
    )
    direct.enqueue(
        session,
        key=f"sla-{timer.id}-{timer.stage}",
        source=SOURCE,
        source_id=ticket.id,
        subject=(SUBJECT, ticket.id),
        label=f"{name} {stage} alert to {owner.username}",
        channel=channel,
        address=address,
        locale=owner.locale,
        rendered=rendered,
        user_id=owner.id,
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


# --- the queue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[str, ...] = ()
    priority: str | None = None
    assignee_id: int | None = None
    breach_state: str | None = None
    product_model: str | None = None
    batch: str | None = None
    category: str | None = None
    incident_id: int | None = None


def queue(
    session: Session, *, filters: QueueFilter, limit: int, before_id: int | None
) -> Sequence[Ticket]:
    """Newest first, keyset-paginated by id; every filter is an equality the indexes serve."""
    query = select(Ticket).order_by(col(Ticket.id).desc()).limit(limit)
    if filters.statuses:
        query = query.where(col(Ticket.status).in_(filters.statuses))
    for column, value in (
        (Ticket.priority, filters.priority),
        (Ticket.assignee_id, filters.assignee_id),
        (Ticket.breach_state, filters.breach_state),
        (Ticket.product_model, filters.product_model),
        (Ticket.batch, filters.batch),
        (Ticket.category, filters.category),
        (Ticket.incident_id, filters.incident_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if before_id is not None:
        query = query.where(col(Ticket.id) < before_id)
    return session.exec(query).all()
