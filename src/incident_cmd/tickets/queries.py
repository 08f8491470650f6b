"""Finding tickets: one by its id, and the queue."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from incident_cmd.auth.models import User
from incident_cmd.errors import NotFound
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.tickets.models import BreachState, Ticket, TicketStatus


def get_ticket(session: Session, *, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[TicketStatus, ...] = ()
    priority: str | None = None
    assignee_id: int | None = None
    breach_state: BreachState | None = None
    product_model: str | None = None
    batch: str | None = None
    category: str | None = None
    incident_id: int | None = None


def queue(
    session: Session, *, filters: QueueFilter, limit: int, before_id: int | None
) -> Sequence[Ticket]:
    """Newest first, keyset-paginated by id; every filter is an equality the indexes serve."""
    return session.exec(_queue_query(filters, limit, before_id)).all()


def team_queue(
    session: Session, *, member: User, filters: QueueFilter, limit: int, before_id: int | None
) -> Sequence[Ticket]:
    """The queue of the teams ``member`` belongs to or leads: the tickets they may work on
    as one of a team (see ``access.may_work_on``)."""
    led = select(Team.key).where(Team.lead_user_id == member.id)
    joined = (
        select(Team.key)
        .join(TeamMember, col(TeamMember.team_id) == Team.id)
        .where(TeamMember.user_id == member.id)
    )
    query = _queue_query(filters, limit, before_id).where(
        or_(col(Ticket.team_key).in_(led), col(Ticket.team_key).in_(joined))
    )
    return session.exec(query).all()


def _queue_query(filters: QueueFilter, limit: int, before_id: int | None) -> SelectOfScalar[Ticket]:
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
    return query


def of_customer(
    session: Session, *, customer_id: int, other_than: int | None = None, limit: int = 20
) -> Sequence[Ticket]:
    """A customer's tickets, newest first: what they complained about before."""
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .order_by(col(Ticket.id).desc())
        .limit(limit)
    )
    if other_than is not None:
        query = query.where(col(Ticket.id) != other_than)
    return session.exec(query).all()


def linked_counts(session: Session, *, incident_ids: Sequence[int]) -> dict[int, int]:
    """How many tickets each incident has linked, in one query on the incident_id index."""
    if not incident_ids:
        return {}
    rows = session.exec(
        select(Ticket.incident_id, func.count())
        .where(col(Ticket.incident_id).in_(incident_ids))
        .group_by(col(Ticket.incident_id))
    ).all()
    return {incident_id: count for incident_id, count in rows if incident_id is not None}
