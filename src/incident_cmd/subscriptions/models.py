from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName


class SubscriptionStatus(StrEnum):
    pending = "pending"  # asked for, not yet confirmed from the address itself
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"


class Subscription(SQLModel, table=True):
    """Someone of the public who asked for an incident's statements, or for those about a
    product line, by email or SMS. Nothing is sent to it but its confirmation request until
    the address itself confirms (double opt-in). ``topic`` is ``incident:<id>`` or
    ``product:<model>``: one subscription per address and topic, asked for again as often
    as the rate limits allow."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("channel", "address", "topic"),
        Index("ix_subscriptions_incident", "incident_id", "status"),
        Index("ix_subscriptions_product", "product", "status"),
    )

    id: int = Field(default=None, primary_key=True)
    channel: ChannelName = enum_column(ChannelName)
    address: str = Field(max_length=320)
    locale: Locale = enum_column(Locale)
    topic: str = Field(max_length=120)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    # Upper case, as products are matched whatever case a scope or a reader wrote.
    product: str | None = Field(default=None, max_length=100)
    status: SubscriptionStatus = enum_column(SubscriptionStatus)
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    unsubscribed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class SubscriptionRequest(SQLModel, table=True):
    """One request of the subscribe form, kept for the rate limits: who asked (the client's
    network address) and for which address, both as keyed digests, so that the log holds
    no address in the clear."""

    __tablename__ = "subscription_requests"
    __table_args__ = (
        Index("ix_subscription_requests_client", "client_digest", "requested_at"),
        Index("ix_subscription_requests_address", "address_digest", "requested_at"),
        # The day-old rows each request clears.
        Index("ix_subscription_requests_requested_at", "requested_at"),
    )

    id: int = Field(default=None, primary_key=True)
    client_digest: str = Field(max_length=64)
    address_digest: str = Field(max_length=64)
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
