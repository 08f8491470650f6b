"""The customer directory for the people who tell customers things (the customers API's
roles: comms, duty managers, admins): search by phone, name, product or batch, and a
customer's page with their purchases, complaints and every message sent to them.

Contacts go through the complaint pages' display rules (``ticket_display``), so a role that
reads them masked would read them masked here too."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from incident_cmd.auth.models import Role, User
from incident_cmd.auth.schemas import normalise_phone
from incident_cmd.campaigns.models import Campaign, Delivery, DeliveryStatus
from incident_cmd.config import get_settings
from incident_cmd.customers import service as customer_service
from incident_cmd.customers.masking import mask_contact
from incident_cmd.customers.models import Customer, Purchase
from incident_cmd.deps import CUSTOMER_READER_ROLES, SessionDep
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.tickets import queries as ticket_queries
from incident_cmd.tickets.models import Ticket
from incident_cmd.tickets.notices import SOURCE as TICKET_SOURCE
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.forms import gettext_for
from incident_cmd.web.labels import N_
from incident_cmd.web.refused import refused_page
from incident_cmd.web.security import csrf_protect
from incident_cmd.web.ticket_display import (
    customer_shown,
    masks_contacts,
    text_shown,
    ticket_label,
)

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

PAGE_SIZE = 50
MESSAGES_SHOWN = 100
TICKETS_SHOWN = 50


class SearchKey(StrEnum):
    phone = "phone"
    name = "name"
    product = "product"
    batch = "batch"


SEARCH_KEYS: Mapping[SearchKey, str] = {
    SearchKey.phone: N_("Phone"),
    SearchKey.name: N_("Name"),
    SearchKey.product: N_("Product model"),
    SearchKey.batch: N_("Batch"),
}
NOT_A_PHONE = N_("Not a phone number we can dial: write it as 13800138000 or +86 138 0013 8000.")
NOT_ALLOWED = N_(
    "Customer records are open to communications staff, duty managers and administrators."
)

MESSAGE_LABELS: Mapping[str, str] = {
    DeliveryStatus.pending: N_("Waiting to send"),
    DeliveryStatus.sending: N_("Sending"),
    DeliveryStatus.unknown: N_("Outcome unknown"),
    DeliveryStatus.sent: N_("Sent"),
    DeliveryStatus.delivered: N_("Delivered"),
    DeliveryStatus.undelivered: N_("Not delivered"),
    DeliveryStatus.failed: N_("Failed"),
    DeliveryStatus.suppressed: N_("Not sent: opted out"),
    DeliveryStatus.cancelled: N_("Cancelled"),
}
# How a message's state reads at a glance: the words say it, the colour repeats it.
MESSAGE_TONES: Mapping[str, str] = {
    DeliveryStatus.delivered: "good",
    DeliveryStatus.sent: "good",
    DeliveryStatus.failed: "bad",
    DeliveryStatus.undelivered: "bad",
    DeliveryStatus.unknown: "bad",
}


def may_read_customers(user: User) -> bool:
    """The customers API's ``CustomerReader``: everyone but viewers."""
    return user.role in {Role.admin, *CUSTOMER_READER_ROLES}


def _search(
    session: Session, key: SearchKey, value: str, after_id: int | None
) -> Sequence[Customer]:
    """One page of customers in id order. A phone is matched whole on its index, a product or
    batch on the purchases' (product, batch) and batch indexes; a name has no index, so the
    scan walks the primary key and stops once it has a page."""
    query = select(Customer).order_by(col(Customer.id)).limit(PAGE_SIZE)
    if after_id is not None:
        query = query.where(col(Customer.id) > after_id)
    if key == SearchKey.phone:
        query = query.where(Customer.phone == value)
    elif key == SearchKey.name:
        pattern = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(Customer.name).ilike(f"%{pattern}%", escape="\\"))
    else:
        column = Purchase.product_model if key == SearchKey.product else Purchase.batch
        buyers = select(Purchase.customer_id).where(column == value)
        query = query.where(col(Customer.id).in_(buyers))
    return session.exec(query).all()


def _purchases_of(session: Session, customer_ids: Sequence[int]) -> dict[int, list[Purchase]]:
    found: dict[int, list[Purchase]] = {customer_id: [] for customer_id in customer_ids}
    if customer_ids:
        for purchase in session.exec(
            select(Purchase)
            .where(col(Purchase.customer_id).in_(customer_ids))
            .order_by(col(Purchase.id))
        ):
            found[purchase.customer_id].append(purchase)
    return found


@router.get("/customers", response_class=HTMLResponse)
def customer_search(
    request: Request,
    session: SessionDep,
    user: PageUser,
    q: Annotated[str, Query(max_length=200)] = "",
    by: SearchKey = SearchKey.phone,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    if not may_read_customers(user):
        return refused_page(request, user, NOT_ALLOWED)
    gettext = gettext_for(user)
    value = q.strip()
    errors: dict[str, str] = {}
    customers: Sequence[Customer] = ()
    if value and by == SearchKey.phone:
        try:
            value = normalise_phone(value)
        except ValueError:
            errors["q"] = gettext(NOT_A_PHONE)
    if value and not errors:
        customers = _search(session, by, value, after)
    purchases = _purchases_of(session, [customer.id for customer in customers])
    rows = [
        {
            "id": customer.id,
            "shown": customer_shown(customer, user),
            "purchases": purchases[customer.id],
        }
        for customer in customers
    ]
    next_url = (
        "/customers?" + urlencode({"q": q, "by": by.value, "after": customers[-1].id})
        if len(customers) == PAGE_SIZE
        else None
    )
    first_url = "/customers?" + urlencode({"q": q, "by": by.value}) if after else None
    return templates().TemplateResponse(
        request,
        "customers.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "q": q,
            "by": by,
            "searched": bool(value) and not errors,
            "keys": SEARCH_KEYS,
            "scope": customer_service.scope_values(session, limit=200),
            "rows": rows,
            "errors": errors,
            "next_url": next_url,
            "first_url": first_url,
        },
        status_code=status.HTTP_400_BAD_REQUEST if errors else status.HTTP_200_OK,
    )


@dataclass(frozen=True)
class MessageShown:
    """One message the customer was sent: a campaign's notice or a note about a ticket."""

    at: datetime
    channel: str
    address: str
    status: str
    tone: str
    what: str
    link: str | None
    detail: str | None


def _message_time(*moments: datetime | None) -> datetime:
    return next(moment for moment in moments if moment is not None)


def _deliveries(session: Session, customer: Customer, reader: User) -> list[MessageShown]:
    """Through the campaigns: deliveries are keyed (campaign, customer), so each campaign is
    one probe of that unique index rather than a scan of every delivery ever made."""
    found = session.exec(
        select(Delivery, Campaign)
        .join(Campaign, col(Campaign.id) == Delivery.campaign_id)
        .where(Delivery.customer_id == customer.id)
        .order_by(col(Campaign.id).desc())
        .limit(MESSAGES_SHOWN)
    ).all()
    return [
        MessageShown(
            at=_message_time(
                delivery.delivered_at,
                delivery.sent_at,
                delivery.last_attempt_at,
                delivery.due_at,
            ),
            channel=campaign.channel,
            address=mask_contact(delivery.address) if masks_contacts(reader) else delivery.address,
            status=MESSAGE_LABELS.get(delivery.status, delivery.status),
            tone=MESSAGE_TONES.get(delivery.status, "plain"),
            what=campaign.name,
            link=f"/campaigns/{campaign.id}",
            detail=delivery.error_message or (delivery.reply and f"↩ {delivery.reply}"),
        )
        for delivery, campaign in found
    ]


def _direct_messages(session: Session, customer: Customer, reader: User) -> list[MessageShown]:
    """The notes about their tickets, found through the (source, source_id) index by the
    customer's tickets (on the tickets' customer index)."""
    tickets = select(Ticket.id).where(Ticket.customer_id == customer.id)
    found = session.exec(
        select(DirectMessage)
        .where(
            DirectMessage.source == TICKET_SOURCE,
            col(DirectMessage.source_id).in_(tickets),
            DirectMessage.customer_id == customer.id,
        )
        .order_by(col(DirectMessage.id).desc())
        .limit(MESSAGES_SHOWN)
    ).all()
    return [
        MessageShown(
            at=_message_time(message.sent_at, message.last_attempt_at, message.due_at),
            channel=message.channel,
            address=mask_contact(message.address) if masks_contacts(reader) else message.address,
            status=MESSAGE_LABELS.get(message.status, message.status),
            tone=MESSAGE_TONES.get(message.status, "plain"),
            what=text_shown(message.subject or message.body, reader) or "",
            link=f"/tickets/{message.source_id}" if message.source_id else None,
            detail=message.error_message,
        )
        for message in found
    ]


@router.get("/customers/{customer_id:int}", response_class=HTMLResponse)
def customer_page(
    customer_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    if not may_read_customers(user):
        return refused_page(request, user, NOT_ALLOWED)
    customer = customer_service.get_customer(session, customer_id=customer_id)
    purchases = _purchases_of(session, [customer.id])[customer.id]
    messages = sorted(
        _deliveries(session, customer, user) + _direct_messages(session, customer, user),
        key=lambda message: message.at,
        reverse=True,
    )
    return templates().TemplateResponse(
        request,
        "customer.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "customer": customer,
            "shown": customer_shown(customer, user),
            "purchases": purchases,
            "tickets": ticket_queries.of_customer(
                session, customer_id=customer.id, limit=TICKETS_SHOWN
            ),
            "messages": messages,
            "tl": ticket_label,
        },
    )
