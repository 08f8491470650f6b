"""Finding tickets: one by its id, and the queue, newest first or what must be done first."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, case, literal, or_, tuple_
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from incident_cmd.auth.models import User
from incident_cmd.columns import UTCDateTime
from incident_cmd.errors import Invalid, NotFound
from incident_cmd.fields import INT4_MAX
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.tickets.models import BreachState, SlaTimer, Ticket, TicketStatus
from incident_cmd.tickets.policy import PRIORITIES


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
    query = _queue_query(filters, limit, before_id).where(_of_teams(member))
    return session.exec(query).all()


def _of_teams(member: User) -> ColumnElement[bool]:
    led = select(Team.key).where(Team.lead_user_id == member.id)
    joined = (
        select(Team.key)
        .join(TeamMember, col(TeamMember.team_id) == Team.id)
        .where(TeamMember.user_id == member.id)
    )
    return or_(col(Ticket.team_key).in_(led), col(Ticket.team_key).in_(joined))


def _queue_query(filters: QueueFilter, limit: int, before_id: int | None) -> SelectOfScalar[Ticket]:
    query = select(Ticket).where(*_matching(filters)).order_by(col(Ticket.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(Ticket.id) < before_id)
    return query


def _matching(filters: QueueFilter) -> list[ColumnElement[bool]]:
    # A drill's complaints are its incident's alone: the queue shows them only to whoever
    # looks at that incident's complaints (they are linked to nothing else).
    clauses: list[ColumnElement[bool]] = (
        [] if filters.incident_id is not None else [col(Ticket.drill).is_(False)]
    )
    if filters.statuses:
        clauses.append(col(Ticket.status).in_(filters.statuses))
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
            clauses.append(col(column) == value)
    return clauses


# --- what must be done first ------------------------------------------------------------------

CLOSED_STATUSES = (TicketStatus.resolved, TicketStatus.closed)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Place:
    """A ticket's place in the order of what must be done first. ``band`` 0: open with its
    clock running; 1: waiting on the customer (clock stopped) or with no target left; 2:
    resolved or closed. Within a band: the next deadline (the earliest target not yet met,
    which is the first response until the ticket is answered; overdue ones come first as
    they are earliest), then the priority (0 urgent), then the id. Resolved and closed
    tickets have no deadline left and go by when they were taken in.

    A page's cursor is the place of its last ticket: the next page starts right after it
    even if that ticket has moved since, so no ticket that stayed put is skipped or shown
    twice."""

    band: int
    deadline: datetime
    priority: int
    ticket_id: int

    def cursor(self) -> str:
        micros = (self.deadline - _EPOCH) // timedelta(microseconds=1)
        return f"{self.band}.{micros}.{self.priority}.{self.ticket_id}"

    @classmethod
    def from_cursor(cls, cursor: str) -> "Place":
        parts = cursor.split(".")
        if len(parts) != 4 or not all(part.isdigit() and len(part) <= 18 for part in parts):
            raise Invalid("not a cursor this queue gave", field="cursor")
        band, micros, priority, ticket_id = (int(part) for part in parts)
        if band > 2 or priority > len(PRIORITIES) or not 1 <= ticket_id <= INT4_MAX:
            raise Invalid("not a cursor this queue gave", field="cursor")
        try:
            deadline = _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise Invalid("not a cursor this queue gave", field="cursor") from None
        return cls(band, deadline, priority, ticket_id)


def _place_columns() -> tuple[ColumnElement[int], ColumnElement[datetime], ColumnElement[int]]:
    next_due = (
        select(func.min(SlaTimer.due_at))
        .where(SlaTimer.ticket_id == Ticket.id, col(SlaTimer.met_at).is_(None))
        .correlate(Ticket)
        .scalar_subquery()
    )
    finished = col(Ticket.status).in_(CLOSED_STATUSES)
    band = case(
        (finished, 2),
        (col(Ticket.status) == TicketStatus.waiting_customer, 1),
        (next_due.is_(None), 1),
        else_=0,
    )
    # A finished ticket's timers are never read: on a large table most tickets are finished.
    deadline = case((finished, col(Ticket.created_at)), else_=next_due)
    priority = case(
        *((col(Ticket.priority) == name, rank) for rank, name in enumerate(PRIORITIES)),
        else_=len(PRIORITIES),
    )
    return band, deadline, priority


def by_deadline(
    session: Session,
    *,
    filters: QueueFilter,
    limit: int,
    after: Place | None = None,
    team_member: User | None = None,
) -> list[tuple[Ticket, Place]]:
    """The queue in the order of what must be done first (see ``Place``), each ticket with
    its place; ``team_member``: only the tickets of the teams they belong to or lead."""
    band, next_due, priority = _place_columns()
    # An open ticket with no target left (its targets met, or none started) has no deadline.
    deadline = func.coalesce(next_due, col(Ticket.created_at), type_=UTCDateTime())
    query = (
        select(Ticket, band, deadline, priority)
        .where(*_matching(filters))
        .order_by(band, deadline, priority, col(Ticket.id))
        .limit(limit)
    )
    if team_member is not None:
        query = query.where(_of_teams(team_member))
    if after is not None:
        query = query.where(
            tuple_(band, deadline, priority, col(Ticket.id))
            > tuple_(
                literal(after.band),
                literal(after.deadline, UTCDateTime()),
                literal(after.priority),
                literal(after.ticket_id),
            )
        )
    return [
        (ticket, Place(band_of, deadline_of, priority_of, ticket.id))
        for ticket, band_of, deadline_of, priority_of in session.exec(query).all()
    ]


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
