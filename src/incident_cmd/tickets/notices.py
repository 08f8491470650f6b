"""What a customer hears about their ticket, by the address they wrote from."""

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
    channel = ChannelName.email if "@" in ticket.contact else ChannelName.sms
    if suppression.is_suppressed(session, channel=channel, address=ticket.contact):
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
        # A drill's complaint is answered through the sink, whatever the address says.
        drill=ticket.drill,
    )
