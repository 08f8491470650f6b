"""What a customer hears about their ticket, by the address they wrote from."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer
from incident_cmd.messaging import direct, quiet_hours, suppression
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import templates_for
from incident_cmd.tickets.history import SUBJECT
from incident_cmd.tickets.models import Ticket

SOURCE = "ticket"


def local_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def out_of_quiet_hours(moment: datetime, customer: Customer) -> datetime:
    """A survey is no emergency: it waits for the customer's morning."""
    return quiet_hours.end_of_quiet_hours(customer.timezone, moment) or moment


@dataclass(frozen=True)
class Notice:
    """One message to a ticket's customer: the template, its values, and the key that makes
    it once."""

    ticket: Ticket
    customer: Customer
    template: str
    key: str
    values: dict
    due_at: datetime | None = None


def to_customer(
    session: Session,
    *,
    ticket: Ticket,
    customer: Customer,
    template: str,
    key: str,
    values: dict,
    due_at: datetime | None = None,
) -> None:
    to_customers(session, notices=[Notice(ticket, customer, template, key, values, due_at)])


def _channel(ticket: Ticket) -> ChannelName:
    return ChannelName.email if "@" in ticket.contact else ChannelName.sms


def to_customers(session: Session, *, notices: Sequence[Notice]) -> None:
    """Each notice by the address its ticket was written from, unless that address is
    suppressed; the suppressions of all of them are read in one statement."""
    suppressed = suppression.suppressed_among(
        session, addresses=[(_channel(notice.ticket), notice.ticket.contact) for notice in notices]
    )
    settings = get_settings()
    templates = templates_for(settings.template_dir)
    outgoing = []
    for notice in notices:
        ticket, customer = notice.ticket, notice.customer
        channel = _channel(ticket)
        if (channel, ticket.contact) in suppressed:
            continue
        context = {
            "organisation": settings.organisation_name,
            "number": ticket.number,
            "customer": {"name": customer.name},
            **notice.values,
        }
        outgoing.append(
            direct.Outgoing(
                key=notice.key,
                source=SOURCE,
                source_id=ticket.id,
                subject=(SUBJECT, ticket.id),
                label=f"{notice.template.replace('_', ' ')} to the customer",
                channel=channel,
                address=ticket.contact,
                locale=customer.locale,
                rendered=templates.render(notice.template, channel, customer.locale, context),
                customer_id=customer.id,
                due_at=notice.due_at,
                # A drill's complaint is answered through the sink, whatever the address says.
                drill=ticket.drill,
            )
        )
    direct.enqueue_many(session, messages=outgoing)
