from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.customers.models import NAME_MAX_LENGTH
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import NoticeClass


class CampaignStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its due time
    sending = "sending"  # claimed by a dispatcher, lease in claimed_until
    unknown = "unknown"  # handed over but the answer was lost: reconcile before resending
    sent = "sent"  # accepted by the provider
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    suppressed = "suppressed"
    cancelled = "cancelled"


UNFINISHED = (DeliveryStatus.pending, DeliveryStatus.sending, DeliveryStatus.unknown)


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    plan_key: str | None = Field(default=None, max_length=64)
    channel: ChannelName = enum_column(ChannelName)
    template: str = Field(max_length=64)
    audience: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # What every message says of the incident it belongs to, fixed when the campaign is made
    # (a ``NoticeContext``): the sender renders from it and never reads the incident.
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: CampaignStatus = enum_column(CampaignStatus, index=True)
    safety_critical: bool = False
    notice_class: NoticeClass = enum_column(NoticeClass, default=NoticeClass.update)
    two_person_approval: bool = False
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)
    send_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    drill: bool = False
    reply_keywords: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    skip_if_replied_to: int | None = Field(default=None, foreign_key="campaigns.id")
    # None for a campaign the calendar made (the half-yearly satisfaction survey).
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    approved_by: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    audience_size: int | None = None


class Delivery(SQLModel, table=True):
    """One message to one recipient: the outbox row the dispatcher works on.

    A campaign writes a million of these in one statement, so the table carries only the
    indexes the dispatcher and the webhooks need, and no foreign keys: rows are only ever
    made from existing campaigns and customers, neither of which is deleted."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        Index("ix_deliveries_due", "status", "due_at"),
        Index("ix_deliveries_campaign_status", "campaign_id", "status"),
        # Only sent messages are looked up by address (replies); leaving the rest out keeps
        # the index off the materialisation's path.
        Index(
            "ix_deliveries_address_sent",
            "address",
            postgresql_where=text("sent_at IS NOT NULL"),
            sqlite_where=text("sent_at IS NOT NULL"),
        ),
        Index(
            "ix_deliveries_provider_id",
            "provider_id",
            postgresql_where=text("provider_id IS NOT NULL"),
            sqlite_where=text("provider_id IS NOT NULL"),
        ),
    )

    id: int = Field(default=None, primary_key=True)
    campaign_id: int
    customer_id: int
    # The recipient as the audience was drawn: with the campaign's context, all a message
    # is rendered from, so the sender never reads the customer directory.
    address: str = Field(max_length=320)
    name: str = Field(max_length=NAME_MAX_LENGTH)
    locale: Locale = enum_column(Locale)
    timezone: str = Field(max_length=64)
    product: str | None = Field(default=None, max_length=100)
    batch: str | None = Field(default=None, max_length=100)
    status: DeliveryStatus = enum_column(DeliveryStatus)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    provider_id: str | None = Field(default=None, max_length=64)
    error_code: str | None = Field(default=None, max_length=16)
    error_message: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reply: str | None = Field(default=None, max_length=32)
    replied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class InboundMessage(SQLModel, table=True):
    """An SMS from a customer that was not a keyword: kept for the ticket queue."""

    __tablename__ = "inbound_messages"

    id: int = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64, unique=True)
    from_address: str = Field(max_length=32, index=True)
    to_address: str = Field(max_length=32)
    body: str
    kind: str = Field(max_length=16)  # stop, start, help, reply, message
    delivery_id: int | None = Field(default=None, foreign_key="deliveries.id")
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ticket_id: int | None = None
