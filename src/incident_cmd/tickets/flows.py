"""Ticket actions that span domains: an SMS from a customer becomes a ticket, joins their
open one, or answers their survey; a complaint cluster becomes an incident."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from incident_cmd.auth.models import User
from incident_cmd.campaigns.models import Delivery, InboundMessage
from incident_cmd.customers.models import Customer
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import Incident
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import detection, intake, surveys
from incident_cmd.tickets.history import SUBJECT
from incident_cmd.tickets.models import OPEN_TICKET_STATUSES, IntakeChannel, Signal, Ticket
from incident_cmd.tickets.schemas import TicketCreate
from incident_cmd.timeline import service as timeline


def from_sms(
    session: Session, *, inbound: InboundMessage, registry: PlaybookRegistry
) -> tuple[Ticket, str | None]:
    """A customer's free-text SMS. Returns the ticket and what to answer, if anything."""
    [filed] = from_sms_many(session, inbounds=[inbound], registry=registry)
    return filed


def from_sms_many(
    session: Session, *, inbounds: Sequence[InboundMessage], registry: PlaybookRegistry
) -> list[tuple[Ticket, str | None]]:
    """``from_sms`` for messages of distinct senders (a sender's second message may join the
    ticket its first opened, so it cannot be filed with it); the new tickets among them are
    taken in together."""
    senders = [inbound.from_address for inbound in inbounds]
    if len(set(senders)) != len(senders):
        raise ValueError("messages filed together must be from distinct senders")
    filed: list[tuple[Ticket, str | None] | None] = []
    new: list[tuple[int, InboundMessage, TicketCreate]] = []
    surveyed = surveys.asked(session, addresses=senders)
    open_tickets = _open_tickets(session, phones=senders)
    for place, inbound in enumerate(inbounds):
        existing = _on_existing_ticket(
            session,
            inbound=inbound,
            surveyed=inbound.from_address in surveyed,
            open_ticket=open_tickets.get(inbound.from_address),
        )
        filed.append(existing)
        if existing is None:
            new.append((place, inbound, _sms_complaint(session, inbound=inbound)))
    tickets = intake.take_in_many(
        session, registry=registry, items=[intake.Intake(data, None) for _, _, data in new]
    )
    for (place, inbound, _), ticket in zip(new, tickets, strict=True):
        inbound.ticket_id = ticket.id
        session.add(inbound)
        filed[place] = (ticket, None)
    return [outcome for outcome in filed if outcome is not None]


def _open_tickets(session: Session, *, phones: Sequence[str]) -> dict[str, Ticket]:
    """The latest open ticket of the customer each phone number belongs to (the first
    customer with that number), for all the numbers in two statements."""
    customer_of: dict[str, int] = {}
    for customer_id, phone in session.exec(
        select(Customer.id, Customer.phone)
        .where(col(Customer.phone).in_(phones))
        .order_by(col(Customer.id))
    ):
        if phone is not None:
            customer_of.setdefault(phone, customer_id)
    latest: dict[int, Ticket] = {}
    for ticket in session.exec(
        select(Ticket)
        .where(
            col(Ticket.customer_id).in_(customer_of.values()),
            col(Ticket.status).in_(OPEN_TICKET_STATUSES),
        )
        .order_by(col(Ticket.id).desc())
    ):
        latest.setdefault(ticket.customer_id, ticket)
    return {
        phone: latest[customer_id]
        for phone, customer_id in customer_of.items()
        if customer_id in latest
    }


def _on_existing_ticket(
    session: Session, *, inbound: InboundMessage, surveyed: bool, open_ticket: Ticket | None
) -> tuple[Ticket, str | None] | None:
    """A survey answer (only from a sender ever asked one), or a message that joins the
    sender's open ticket; None when the message is a new complaint."""
    text = inbound.body.strip()
    survey = surveys.answer_by_sms(session, inbound=inbound) if surveyed else None
    if survey is not None:
        return survey.ticket, survey.answer
    if open_ticket is None:
        return None
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=open_ticket.id,
        kind="ticket.customer_message",
        summary=f"customer by SMS: {text}",
        actor_id=None,
        data={"inbound": inbound.id, "text": text},
    )
    inbound.ticket_id = open_ticket.id
    session.add(inbound)
    return open_ticket, None


def _sms_complaint(session: Session, *, inbound: InboundMessage) -> TicketCreate:
    """A new complaint from the message: a reply to a recall notice is about the product and
    batch that notice was for."""
    replied_to = session.get(Delivery, inbound.delivery_id) if inbound.delivery_id else None
    return TicketCreate(
        phone=inbound.from_address,
        channel=IntakeChannel.sms,
        description=inbound.body.strip() or "(empty message)",
        product_model=replied_to.product if replied_to else None,
        batch=replied_to.batch if replied_to else None,
    )


def declare_from_signal(
    session: Session,
    *,
    signal: Signal,
    registry: PlaybookRegistry,
    severity: str,
    title: str | None,
    actor: User,
) -> Incident:
    """One action: the incident from the suggested playbook with the cluster's scope; the
    cluster's tickets are linked to it."""
    detection.ensure_open(signal)
    incident = incident_flows.declare(
        session,
        registry=registry,
        actor=actor,
        data=IncidentDeclare(
            playbook=signal.playbook_key,
            title=title or f"Complaint cluster: {signal.open_key}",
            severity=severity,
            scope=Scope(**signal.scope),
        ),
    )
    tickets, _ = detection.evidence(session, signal=signal)
    for ticket in tickets:
        if ticket.incident_id is None:
            ticket.incident_id = incident.id
            session.add(ticket)
            timeline.append(
                session,
                subject_type=SUBJECT,
                subject_id=ticket.id,
                kind="ticket.linked",
                summary=f"linked to incident {incident.number}",
                actor_id=actor.id,
                data={"incident": incident.number, "incident_id": incident.id},
            )
    detection.mark_declared(session, signal=signal, incident=incident, actor=actor)
    return incident
