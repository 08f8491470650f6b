"""Finding tickets: one by its id, and the queue."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from incident_cmd.errors import NotFound
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
