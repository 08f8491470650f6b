"""Taking a complaint in, in one call: the customer found or made, the ticket classified,
assigned to an agent, timed and linked to an active incident whose scope it falls in,
counted for mass-complaint detection, numbered and acknowledged to the customer."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, literal, union_all
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
from incident_cmd.tickets.history import SUBJECT
from incident_cmd.tickets.models import (
    OPEN_TICKET_STATUSES,
    BreachState,
    Ticket,
    TicketStatus,
    TimerKind,
)
from incident_cmd.tickets.notices import Notice, local_time, to_customers
from incident_cmd.tickets.policy import Category, Priority, ServiceLevels, service_levels
from incident_cmd.tickets.schemas import TicketCreate
from incident_cmd.timeline import service as timeline


@dataclass(frozen=True)
class Intake:
    """One complaint to take in, and who takes it in (None: the customer, by SMS);
    ``drill``: the drill incident whose synthetic complaint it is."""

    data: TicketCreate
    actor: User | None
    drill: Incident | None = None


def take_in(
    session: Session,
    *,
    data: TicketCreate,
    actor: User | None,
    registry: PlaybookRegistry,
    drill: Incident | None = None,
) -> Ticket:
    """``drill``: a drill's synthetic complaint, from one of its made-up customers, linked to
    that drill incident and to nothing else (see ``drills.flows``)."""
    [ticket] = take_in_many(session, registry=registry, items=[Intake(data, actor, drill)])
    return ticket


def take_in_many(
    session: Session, *, registry: PlaybookRegistry, items: Sequence[Intake]
) -> list[Ticket]:
    """The tickets of these intakes; see ``file_many``."""
    return [taken.ticket for taken in file_many(session, registry=registry, items=items)]


@dataclass(frozen=True)
class Taken:
    """A ticket as its intake left it: its timers as started, in order, and the username of
    its agent. What intake answers with, read from nothing."""

    ticket: Ticket
    timers: list[sla.NewTimer]
    assignee: str | None


def file_many(
    session: Session, *, registry: PlaybookRegistry, items: Sequence[Intake]
) -> list[Taken]:
    """The tickets of these intakes, in order, each as if taken in one after another (the
    same customer found or made, agent, timers, links, signal and acknowledgement), with a
    number of statements that does not grow with the batch: one reads every customer, one
    makes the new ones, one writes the tickets, their timers, their timeline entries and
    their acknowledgements each. A reply storm brings thousands of intakes, and on this
    machine an intake's cost is its round trips to the database.

    A drill's intake (``Intake.drill``) is its made-up customer's, linked to its drill
    incident alone; a real one is never linked to a drill."""
    if not items:
        return []
    for item in items:
        if item.drill is not None and not item.drill.drill:
            raise Invalid(f"{item.drill.number} is not a drill", field="incident")
    levels = service_levels()
    now = clock.now()
    found = [classify(levels, item.data) for item in items]
    customers = customer_service.find_or_create_many(
        session,
        contacts=[
            customer_service.Contact(
                phone=item.data.phone,
                email=str(item.data.email) if item.data.email else None,
                name=item.data.customer_name,
                locale=item.data.locale,
                region=item.data.region,
                synthetic=item.drill is not None,
            )
            for item in items
        ],
    )
    team_keys = [levels.assignment.team_for(classified.category) for classified in found]
    agents = _choose_agents(session, levels, team_keys)
    incidents = detection.open_incidents(session)
    numbers = numbering.next_numbers(
        session, prefix="TKT", year=now.year, count=len(items), width=6
    )
    rows = [
        _ticket(item, classified, customer, team_key, agent, number, now)
        for item, classified, customer, team_key, agent, number in zip(
            items, found, customers, team_keys, agents, numbers, strict=True
        )
    ]
    covered_by = [
        [item.drill] if item.drill else detection.covering(incidents, row)
        for item, row in zip(items, rows, strict=True)
    ]
    for row, covering in zip(rows, covered_by, strict=True):
        # A drill's own incident, else the newest active incident whose scope takes it in.
        row["incident_id"] = covering[0].id if covering else None
    # Written as rows and read back as the session's tickets, in order: building each as an
    # ORM object and flushing it cost more CPU than the statement.
    # (Nulls written as such: left out, they would split the batch into a statement for each
    # set of columns that are not null.)
    tickets = list(
        session.scalars(
            insert(Ticket).returning(Ticket, sort_by_parameter_order=True),
            rows,
            execution_options={"render_nulls": True},
        )
    )
    timers = [_timers(ticket, levels, now) for ticket in tickets]
    sla.write_timers(session, timers=[timer for own in timers for timer in own])
    timeline.append_many(
        session,
        entries=[
            entry
            for item, classified, ticket, agent, covering in zip(
                items, found, tickets, agents, covered_by, strict=True
            )
            for entry in _intake_entries(item, classified, ticket, agent, levels, covering)
        ],
    )
    detection.detect(session, tickets=tickets, registry=registry, covered_by=covered_by)
    to_customers(
        session,
        notices=[
            _acknowledgement(ticket, customer, own[0], covering)
            for ticket, customer, own, covering in zip(
                tickets, customers, timers, covered_by, strict=True
            )
        ],
    )
    session.flush()
    return [
        Taken(ticket, own, agent.username if agent else None)
        for ticket, own, agent in zip(tickets, timers, agents, strict=True)
    ]


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


def _members(session: Session, team_keys: set[str]) -> dict[str, list[User]]:
    """Each team's active agents, found by the teams' keys, in one statement."""
    members: dict[str, list[User]] = {key: [] for key in sorted(team_keys)}
    for key, agent in session.exec(
        select(Team.key, User)
        .join(TeamMember, col(TeamMember.user_id) == User.id)
        .join(Team, col(Team.id) == TeamMember.team_id)
        .where(col(Team.key).in_(team_keys), User.active, User.role == Role.agent)
        .order_by(col(User.id))
    ):
        members[key].append(agent)
    for key, agents in members.items():
        if agents:
            continue
        try:
            team_service.get_team(session, key=key)
        except NotFound:
            raise Invalid(
                f"the service-level file names team {key!r}, which does not exist",
                field="category",
            ) from None
    return members


def _choose_agents(
    session: Session, levels: ServiceLevels, team_keys: list[str]
) -> list[User | None]:
    """The agent of each intake, as if they were assigned one after another: the teams'
    agents and their loads (or each team's round-robin turns) are read once for the batch,
    and each assignment counts in the next one's loads (an agent may sit in two teams)."""
    teams = _members(session, set(team_keys))
    chosen: list[User | None] = []
    if levels.assignment.strategy == "round_robin":
        turns: dict[str, int] = {}
        for key, count in Counter(key for key in team_keys if teams[key]).items():
            turns[key] = numbering.next_value(session, f"round-robin:{key}", step=count) - count
        for key in team_keys:
            agents = teams[key]
            chosen.append(agents[turns[key] % len(agents)] if agents else None)
            turns[key] += 1
        return chosen
    everyone = {agent.id: agent for agents in teams.values() for agent in agents}
    loads = _open_loads(session, list(everyone.values())) if everyone else {}
    for key in team_keys:
        agents = teams[key]
        agent = min(agents, key=lambda agent: (loads[agent.id], agent.id)) if agents else None
        if agent is not None:
            loads[agent.id] = min(loads[agent.id] + 1, LOAD_CAP)
        chosen.append(agent)
    return chosen


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


def _ticket(
    item: Intake,
    found: Classification,
    customer: Customer,
    team_key: str,
    agent: User | None,
    number: str,
    now: datetime,
) -> dict[str, Any]:
    """Classified, assigned and numbered: the number is unique, from an unlocked series on
    PostgreSQL (see ``numbering``), so it is taken before the ticket is written. Every row
    names the same columns, which a batch's one statement needs."""
    data = item.data
    return {
        "number": number,
        "customer_id": customer.id,
        "contact": data.phone or str(data.email),
        "channel": data.channel,
        "category": found.category,
        "priority": found.priority,
        "safety": found.safety,
        "product_model": data.product_model,
        "batch": data.batch,
        "region": data.region or customer.region,
        "purchase_channel": data.purchase_channel,
        "description": data.description,
        "requested": data.requested,
        "status": TicketStatus.new,
        "breach_state": BreachState.ok,
        "team_key": team_key,
        "assignee_id": agent.id if agent else None,
        "drill": item.drill is not None,
        "created_at": now,
        "created_by": item.actor.id if item.actor else None,
    }


def _intake_entries(
    item: Intake,
    found: Classification,
    ticket: Ticket,
    agent: User | None,
    levels: ServiceLevels,
    covering: list[Incident],
) -> list[timeline.Entry]:
    """The ticket's first timeline entries: taken in, assigned, linked."""
    actor_id = item.actor.id if item.actor else None
    category, priority, safety = found.category, found.priority, found.safety
    how = f"rules {', '.join(map(str, found.rules))}" if found.rules else "intake form"
    entries = [
        timeline.Entry(
            subject_type=SUBJECT,
            subject_id=ticket.id,
            kind="ticket.created",
            summary=f"taken in by {item.data.channel}: {category}, {priority}"
            + (", safety" if safety else "")
            + f" ({how})",
            actor_id=actor_id,
            data={
                "category": category,
                "priority": priority,
                "safety": safety,
                "channel": item.data.channel,
            },
        )
    ]
    if agent is not None:
        entries.append(
            timeline.Entry(
                subject_type=SUBJECT,
                subject_id=ticket.id,
                kind="ticket.assigned",
                summary=f"assigned to {agent.username}",
                actor_id=None,
                data={"user": agent.username, "strategy": levels.assignment.strategy},
            )
        )
    if covering:
        incident = covering[0]
        entries.append(
            timeline.Entry(
                subject_type=SUBJECT,
                subject_id=ticket.id,
                kind="ticket.linked",
                summary=f"linked to incident {incident.number}",
                actor_id=None,
                data={"incident": incident.number, "incident_id": incident.id},
            )
        )
    return entries


def _acknowledgement(
    ticket: Ticket, customer: Customer, response: sla.NewTimer, covering: list[Incident]
) -> Notice:
    """The customer's acknowledgement: the number, by when it is answered and, when an
    incident takes it in, where its status is published."""
    incident = next(iter(covering), None)
    return Notice(
        ticket=ticket,
        customer=customer,
        template="ticket_ack",
        key=f"ticket-{ticket.id}-ack",
        values={
            "respond_by": local_time(response.due_at, customer.timezone),
            "status_url": status_url(incident.number) if incident else None,
        },
    )


def _timers(ticket: Ticket, levels: ServiceLevels, now: datetime) -> list[sla.NewTimer]:
    """The ticket's timers, the response timer first (the acknowledgement quotes it)."""
    tier = levels.tier(ticket.priority)
    targets = [
        (TimerKind.response, tier.respond),
        (TimerKind.resolution, tier.resolve),
        (TimerKind.close, levels.close_within),
        (TimerKind.verification, levels.verification_target),
    ]
    if ticket.category in levels.handling_plan.categories:
        targets.append((TimerKind.handling_plan, levels.handling_plan.within))
    return [
        sla.new_timer(ticket_id=ticket.id, kind=kind, target=target, levels=levels, now=now)
        for kind, target in targets
    ]
