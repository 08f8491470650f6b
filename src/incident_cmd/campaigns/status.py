"""Delivery status callbacks from the provider, applied to campaign deliveries."""

from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.campaigns.models import Campaign, Delivery, DeliveryStatus
from incident_cmd.integrations.twilio.handlers import StatusCallback
from incident_cmd.messaging import suppression
from incident_cmd.messaging.channels import UNSUBSCRIBED_CODE

# Provider statuses in the order a message moves through them; a status never goes back.
PROVIDER_STATUS = {
    "queued": DeliveryStatus.sent,
    "accepted": DeliveryStatus.sent,
    "scheduled": DeliveryStatus.sent,
    "sending": DeliveryStatus.sent,
    "sent": DeliveryStatus.sent,
    "delivered": DeliveryStatus.delivered,
    "read": DeliveryStatus.delivered,
    "undelivered": DeliveryStatus.undelivered,
    "failed": DeliveryStatus.failed,
}
EARLIER_THAN = {
    DeliveryStatus.sent: (DeliveryStatus.sending, DeliveryStatus.unknown),
    DeliveryStatus.delivered: (
        DeliveryStatus.sending,
        DeliveryStatus.unknown,
        DeliveryStatus.sent,
    ),
    DeliveryStatus.undelivered: (
        DeliveryStatus.sending,
        DeliveryStatus.unknown,
        DeliveryStatus.sent,
    ),
    DeliveryStatus.failed: (DeliveryStatus.sending, DeliveryStatus.unknown, DeliveryStatus.sent),
}


def record_delivery_status(session: Session, callback: StatusCallback) -> bool:
    """Applies a status callback to a campaign delivery. Status only moves forward; repeats
    change nothing. A 21610 (the recipient opted out at the provider) suppresses the address."""
    delivery_id, provider_id = callback.delivery_id, callback.provider_id
    error_code = callback.error_code
    target = PROVIDER_STATUS.get(callback.provider_status)
    if target is None:
        return False
    now = clock.now()
    values: dict[str, Any] = {
        "status": target,
        "provider_id": func.coalesce(Delivery.provider_id, provider_id),
    }
    if target == DeliveryStatus.delivered:
        values["delivered_at"] = now
    if target == DeliveryStatus.sent:
        values["sent_at"] = func.coalesce(Delivery.sent_at, now)
    if error_code:
        values["error_code"] = error_code
    match = (
        col(Delivery.id) == delivery_id
        if delivery_id is not None
        else col(Delivery.provider_id) == provider_id
    )
    changed = session.exec(
        update(Delivery)
        .where(match, col(Delivery.status).in_(EARLIER_THAN[target]))
        .values(**values)
    ).rowcount
    if error_code == str(UNSUBSCRIBED_CODE):
        delivery = session.exec(select(Delivery).where(match)).first()
        if delivery is not None:
            campaign = session.get(Campaign, delivery.campaign_id)
            if campaign is None:
                raise LookupError(f"delivery {delivery.id} has no campaign")
            suppression.suppress(
                session,
                channel=campaign.channel,
                address=delivery.address,
                reason="provider 21610",
            )
    return bool(changed)
