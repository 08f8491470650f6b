"""The tables that are not any one domain's: the direct lane's outbox, what the sink channel
"sent", and the addresses that must receive nothing more."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName


class SinkMessage(SQLModel, table=True):
    """What the sink channel "sent": the default in development and in drills."""

    __tablename__ = "sink_messages"

    id: int = Field(default=None, primary_key=True)
    delivery_id: int | None = Field(default=None, index=True)
    channel: ChannelName = enum_column(ChannelName)
    address: str = Field(max_length=320)
    subject: str | None = None
    body: str
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DirectMessageStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    unknown = "unknown"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"


class DirectMessage(SQLModel, table=True):
    """The direct lane's outbox: one message to one person (a page, a stand-down, a note to
    a customer about their ticket), sent apart from campaigns. ``key`` names what it is for;
    being unique, it makes a step impossible to send twice, whichever worker runs it.
    ``source``/``source_id`` say which row of the owning domain it belongs to, and the
    timeline of ``subject_type``/``subject_id`` records what became of it."""

    __tablename__ = "direct_messages"
    __table_args__ = (
        Index("ix_direct_messages_due", "status", "due_at"),
        Index("ix_direct_messages_source", "source", "source_id"),
    )

    id: int = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    source: str = Field(max_length=32)
    source_id: int | None = None
    subject_type: str | None = Field(default=None, max_length=32)
    subject_id: int | None = None
    label: str = Field(max_length=200)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    customer_id: int | None = Field(default=None, foreign_key="customers.id")
    channel: ChannelName = enum_column(ChannelName)
    address: str = Field(max_length=320)
    locale: Locale = enum_column(Locale)
    subject: str | None = Field(default=None, max_length=300)
    body: str
    html: str | None = None
    # An email's one-click unsubscribe (RFC 8058): mail programs show it beside the sender.
    unsubscribe_url: str | None = Field(default=None, max_length=500)
    drill: bool = False
    status: DirectMessageStatus = enum_column(DirectMessageStatus)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    provider_id: str | None = Field(default=None, max_length=64)
    error_code: str | None = Field(default=None, max_length=16)
    error_message: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class NoticeClass(StrEnum):
    """What a notice is, which decides whether an email unsubscribe stops it."""

    safety = "safety"  # the first safety notice of a recall: the law may require it
    update = "update"  # updates, reminders, apologies: stopped by an unsubscribe


class Suppression(SQLModel, table=True):
    """An address that must receive nothing more on this channel, in any campaign; an email
    unsubscribe (``spares_safety``) still lets a recall's safety notice through."""

    __tablename__ = "suppressions"

    channel: ChannelName = enum_column(ChannelName, primary_key=True)
    address: str = Field(max_length=320, primary_key=True)
    reason: str = Field(max_length=64)
    spares_safety: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
