"""Taking a complaint in, in one call: the customer found or made, the ticket classified,
assigned to an agent, timed and linked to an active incident whose scope it falls in,
counted for mass-complaint detection, numbered and acknowledged to the customer."""

from dataclasses import dataclass

from sqlalchemy import literal, union_all
from sqlmodel import Session, col, func, select

from incident_cmd import clock, numbering
from incident_cmd.auth.models import Role, User
from incident_cmd.customers import service as customer_service
from incident_cmd.customers.models import Customer
from incident_cmd.errors import Invalid, NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.public_links import status_url
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.tickets import detection, sla
from incident_cmd.tickets.history import record
from incident_cmd.tickets.models import (
    OPEN_TICKET_STATUSES,
    SlaTimer,
    Ticket,
    TicketStatus,
    TimerKind,
)
from incident_cmd.tickets.notices import local_time, to_customer
from incident_cmd.tickets.policy import Category, Priority, ServiceLevels, service_levels
from incident_cmd.tickets.schemas import TicketCreate


def take_in(
    session: Session,
    *,
    data: TicketCreate,
    actor: User | None,
    registry: PlaybookRegistry,
    drill: Incident | None = None,
) -> Ticket:
    """Each row is read once and written once: what a step found (the customer, the open
    incidents, the response timer) is handed to the next rather than read again, for an
    intake is a dozen round trips to the database and a reply storm brings thousands.

    ``drill``: a drill's synthetic complaint, from one of its made-up customers, linked to
    that drill incident and to nothing else (see ``drills.flows``)."""
    if drill is not None and not drill.drill:
        raise Invalid(f"{drill.number} is not a drill", field="incident")
    taken = _create(session, data=data, actor=actor, drill=drill)
    detection.detect(session, ticket=taken.ticket, registry=registry, covering=taken.covering)
    _number_and_acknowledge(session, taken=taken)
    return taken.ticket


@dataclass(frozen=True)
class _Taken:
    ticket: Ticket
    customer: Customer
    response: SlaTimer
    covering: list[Incident]


@dataclass(frozen=True)
class Classification:
    category: Category
    priority: Priority
    safety: bool
    rules: tuple[int, ...]


def classify(levels: ServiceLevels, data: TicketCreate) -> Classification:
    """Category and priority as the intake form gives them, else from the first matching
    rule for each; a matching safety rule marks the ticket safety-related."""
    category, priority, safety = data.category, data.priority, False
    rule_numbers: list[int] = []
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
    """The team's active agents, found by the team's key in the same statement."""
    agents = list(
        session.exec(
            select(User)
            .join(TeamMember, col(TeamMember.user_id) == User.id)
            .join(Team, col(Team.id) == TeamMember.team_id)
            .where(Team.key == team_key, User.active, User.role == Role.agent)
            .order_by(col(User.id))
        ).all()
    )
    if not agents:
        try:
            team_service.get_team(session, key=team_key)
        except NotFound:
            raise Invalid(
                f"the service-level file names team {team_key!r}, which does not exist",
                field="category",
            ) from None
    return agents


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


def _create(
    session: Session, *, data: TicketCreate, actor: User | None, drill: Incident | None
) -> _Taken:
    """Classified, assigned, timed and linked to an active incident whose scope it falls in."""
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
        synthetic=drill is not None,
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
        drill=drill is not None,
        created_at=now,
        created_by=actor.id if actor else None,
    )
    session.add(ticket)
    session.flush()
    how = f"rules {', '.join(map(str, found.rules))}" if found.rules else "intake form"
    record(
        session,
        ticket=ticket,
        kind="ticket.created",
        summary=f"taken in by {data.channel}: {category}, {priority}"
        + (", safety" if safety else "")
        + f" ({how})",
        actor_id=actor.id if actor else None,
        data={
            "category": category,
            "priority": priority,
            "safety": safety,
            "channel": data.channel,
        },
    )
    if agent is not None:
        record(
            session,
            ticket=ticket,
            kind="ticket.assigned",
            summary=f"assigned to {agent.username}",
            actor_id=None,
            data={"user": agent.username, "strategy": levels.assignment.strategy},
        )
    response = _start_timers(session, ticket, levels)
    covering = [drill] if drill else detection.incidents_covering(session, ticket=ticket)
    # The newest active incident whose scope takes the ticket in.
    incident = next(iter(covering), None)
    if incident is not None:
        ticket.incident_id = incident.id
        session.add(ticket)
        record(
            session,
            ticket=ticket,
            kind="ticket.linked",
            summary=f"linked to incident {incident.number}",
            actor_id=None,
            data={"incident": incident.number, "incident_id": incident.id},
        )
    session.flush()
    return _Taken(ticket, customer, response, covering)


def _number_and_acknowledge(session: Session, *, taken: _Taken) -> None:
    """The last step of an intake: the number (unique, from an unlocked series on
    PostgreSQL, see ``numbering``) and the customer's acknowledgement: the number, by when it
    is answered and, when an incident takes it in, where its status is published."""
    ticket, customer, incident = taken.ticket, taken.customer, next(iter(taken.covering), None)
    ticket.number = numbering.next_number(
        session, prefix="TKT", year=ticket.created_at.year, width=6
    )
    session.add(ticket)
    to_customer(
        session,
        ticket=ticket,
        customer=customer,
        template="ticket_ack",
        key=f"ticket-{ticket.id}-ack",
        values={
            "respond_by": local_time(taken.response.due_at, customer.timezone),
            "status_url": status_url(incident.number) if incident else None,
        },
    )


def _start_timers(session: Session, ticket: Ticket, levels: ServiceLevels) -> SlaTimer:
    """Starts the ticket's timers; returns the response timer, which the acknowledgement
    quotes."""
    tier = levels.tier(ticket.priority)
    response = sla.start_timer(
        session, ticket=ticket, kind=TimerKind.response, target=tier.respond, levels=levels
    )
    sla.start_timer(
        session, ticket=ticket, kind=TimerKind.resolution, target=tier.resolve, levels=levels
    )
    sla.start_timer(
        session, ticket=ticket, kind=TimerKind.close, target=levels.close_within, levels=levels
    )
    sla.start_timer(
        session,
        ticket=ticket,
        kind=TimerKind.verification,
        target=levels.verification_target,
        levels=levels,
    )
    if ticket.category in levels.handling_plan.categories:
        sla.start_timer(
            session,
            ticket=ticket,
            kind=TimerKind.handling_plan,
            target=levels.handling_plan.within,
            levels=levels,
        )
    return response
