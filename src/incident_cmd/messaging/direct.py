"""The direct lane: one-to-one messages (pages, stand-downs, notes to a customer about their
ticket) sent apart from campaigns, over the outbox core.

It has its own channel clients (so its requests never wait for a connection a campaign holds),
its own process or thread, no rate bucket, and it wakes on a NOTIFY from the transaction that
queued a message (PostgreSQL) or every ``page_poll_seconds``. A million-message recall in the
bulk lane does not delay a page. Messages are rendered when queued; what became of each is
written on the timeline of the subject it is about."""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import psycopg
from sqlalchemy import Engine, Select, event, text, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.config import Settings, get_settings
from incident_cmd.db import table_of
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import Channel, ChannelName, Outbound, channels_for
from incident_cmd.messaging.models import DirectMessage, DirectMessageStatus
from incident_cmd.messaging.outbox import CLAIMABLE, Claimed, Sender, Settled, State
from incident_cmd.messaging.templates import Rendered
from incident_cmd.timeline import service as timeline

# The lane LISTENs here on PostgreSQL; a transaction that queues a message NOTIFYs it on
# commit, so the message goes out without waiting for the next poll.
WAKE_CHANNEL = "incident_cmd_direct"

LEASE = timedelta(seconds=60)
RECONCILE_AFTER = timedelta(seconds=5)


@dataclass(frozen=True)
class Outgoing:
    """One message to queue, as ``enqueue`` takes it."""

    key: str
    source: str
    source_id: int | None
    subject: tuple[str, int] | None
    label: str
    channel: ChannelName
    address: str
    locale: Locale
    rendered: Rendered
    drill: bool = False
    user_id: int | None = None
    customer_id: int | None = None
    due_at: datetime | None = None
    unsubscribe_url: str | None = None

    def values(self, now: datetime) -> dict[str, Any]:
        subject_type, subject_id = self.subject or (None, None)
        return {
            "key": self.key,
            "source": self.source,
            "source_id": self.source_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "label": self.label[:200],
            "user_id": self.user_id,
            "customer_id": self.customer_id,
            "channel": self.channel,
            "address": self.address,
            "locale": self.locale,
            "subject": self.rendered.subject,
            "body": self.rendered.body,
            "html": self.rendered.html,
            "unsubscribe_url": self.unsubscribe_url,
            "drill": self.drill,
            "status": DirectMessageStatus.pending,
            "due_at": self.due_at or now,
            "attempts": 0,
        }


def enqueue(
    session: Session,
    *,
    key: str,
    source: str,
    source_id: int | None,
    subject: tuple[str, int] | None,
    label: str,
    channel: ChannelName,
    address: str,
    locale: Locale,
    rendered: Rendered,
    drill: bool = False,
    user_id: int | None = None,
    customer_id: int | None = None,
    due_at: datetime | None = None,
    unsubscribe_url: str | None = None,
) -> DirectMessage:
    outgoing = Outgoing(
        key, source, source_id, subject, label, channel, address, locale, rendered, drill,
        user_id, customer_id, due_at, unsubscribe_url,
    )  # fmt: skip
    message = DirectMessage(**outgoing.values(clock.now()))
    session.add(message)
    session.info[WAKE_CHANNEL] = True
    return message


def enqueue_many(session: Session, *, messages: Sequence[Outgoing]) -> None:
    """``enqueue`` for many messages, written in one statement in their order, for a caller
    that needs no message back (a batch of intakes acknowledges each of its complaints)."""
    if not messages:
        return
    now = clock.now()
    session.execute(table_of(DirectMessage).insert(), [message.values(now) for message in messages])
    session.info[WAKE_CHANNEL] = True


def cancel_pending(session: Session, *, source: str, source_ids) -> None:
    """Messages not yet handed over are not sent; ``source_ids`` may be a subquery."""
    session.execute(
        update(DirectMessage)
        .where(
            col(DirectMessage.source) == source,
            col(DirectMessage.source_id).in_(source_ids),
            col(DirectMessage.status) == DirectMessageStatus.pending,
        )
        .values(status=DirectMessageStatus.cancelled)
    )


def messages_for(session: Session, *, source: str, source_ids: list[int]) -> list[DirectMessage]:
    if not source_ids:
        return []
    return list(
        session.exec(
            select(DirectMessage)
            .where(
                col(DirectMessage.source) == source, col(DirectMessage.source_id).in_(source_ids)
            )
            .order_by(col(DirectMessage.id))
        )
    )


@event.listens_for(Session, "before_commit")
def _wake_lane(session: Session) -> None:
    if session.info.pop(WAKE_CHANNEL, False) and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {WAKE_CHANNEL}"))


def keypad_twiml(message: DirectMessage, base_url: str, lead: str | None = None) -> str:
    """A call that reads the message and takes one key, answered at the page-voice webhook;
    ``lead`` is said first (when a key was not understood)."""
    action = quoteattr(f"{base_url.rstrip('/')}/webhooks/twilio/page-voice?m={message.id}")
    language = f'language="{message.locale}"'
    say = f"<Say {language}>{escape(message.body)}</Say>"
    gather = f'<Gather input="dtmf" numDigits="1" timeout="8" action={action}>{say}</Gather>'
    opening = f"<Say {language}>{escape(lead)}</Say>" if lead else ""
    # Read twice: the first time often starts before the phone is at an ear.
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{opening}{gather}{gather}</Response>'


def retry_after(attempts: int) -> timedelta:
    """Pages retry fast: 2, 4, 8... seconds, never more than a minute apart."""
    return timedelta(seconds=min(2**attempts, 60))


class Wakeup:
    """Waits until a page may be due: on PostgreSQL a NOTIFY from the transaction that queued
    it ends the wait at once; otherwise, and for retries, the poll interval does."""

    def __init__(self, engine: Engine, seconds: float) -> None:
        self.seconds = seconds
        self._connection = None
        if engine.dialect.name == "postgresql":
            url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._connection = psycopg.connect(url, autocommit=True)
            self._connection.execute(f"LISTEN {WAKE_CHANNEL}")

    async def wait(self, stop: Any) -> None:
        # ``stop`` is a thread's or process's event: the lane sees it within the interval.
        await asyncio.to_thread(self._wait)

    def _wait(self) -> None:
        if self._connection is None:
            time.sleep(self.seconds)
            return
        for _ in self._connection.notifies(timeout=self.seconds, stop_after=1):
            pass

    async def close(self) -> None:
        if self._connection is not None:
            await asyncio.to_thread(self._connection.close)


class DirectMessages:
    """The lane's definition: ``direct_messages`` rows, rendered when queued, sent at once."""

    table = table_of(DirectMessage)
    lease = LEASE
    batch_size = 50
    rate_per_second = 0.0
    flush_every = 1  # a page's outcome is on its timeline as soon as it is known
    reconcile_after = RECONCILE_AFTER
    sinks_keep_id = False  # sink rows name deliveries, not direct messages

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def due(self, now: datetime) -> Select:
        return (
            sa_select(col(DirectMessage.id))
            .where(col(DirectMessage.status).in_(CLAIMABLE), col(DirectMessage.due_at) <= now)
            .order_by(col(DirectMessage.due_at))
        )

    def take(self, session: Session, ids: list[int], now: datetime) -> list[Claimed[DirectMessage]]:
        messages = session.execute(
            sa_select(DirectMessage).where(col(DirectMessage.id).in_(ids))
        ).scalars()
        claimed = [
            Claimed(
                id=message.id,
                channel=message.channel,
                # Drills page real people on real channels: that is the point of a drill. What a
                # drill says to a customer (its made-up ones, through a drill ticket or a
                # drill's SMS reply) goes to the sink and nowhere else.
                drill=message.drill and message.customer_id is not None,
                address=message.address,
                was_unknown=message.status == State.unknown,
                last_attempt_at=message.last_attempt_at,
                attempts=message.attempts + 1,
                payload=message,
            )
            for message in messages
        ]
        # Detached as read: the timeline entry is written from them once sent.
        session.expunge_all()
        return claimed

    def outbound(self, item: Claimed[DirectMessage]) -> Outbound:
        message = item.payload
        twiml = None
        if message.channel == ChannelName.voice:
            twiml = keypad_twiml(message, self.settings.public_base_url)
        return Outbound(
            delivery_id=message.id,
            address=message.address,
            body=message.body,
            subject=message.subject,
            html=message.html,
            unsubscribe_url=message.unsubscribe_url,
            twiml=twiml,
        )

    retry_after = staticmethod(retry_after)

    def also_record(self, session: Session, settled: Sequence[Settled[DirectMessage]]) -> None:
        for item in settled:
            message = item.result.claimed.payload
            if item.status not in (State.sent, State.failed):
                continue
            if message.subject_type is None or message.subject_id is None:
                continue
            sent = item.status == State.sent
            timeline.append(
                session,
                subject_type=message.subject_type,
                subject_id=message.subject_id,
                kind="message.sent" if sent else "message.failed",
                summary=f"{message.label} by {message.channel}: "
                + ("sent" if sent else f"failed: {item.error_message}"),
                actor_id=None,
                data={
                    "message": message.id,
                    "source": message.source,
                    "source_id": message.source_id,
                    "channel": message.channel,
                    "provider_id": item.result.outcome.provider_id if sent else None,
                    "error": None if sent else item.error_message,
                },
            )

    async def waiter(self, engine: Engine) -> Wakeup:
        return await asyncio.to_thread(Wakeup, engine, self.settings.page_poll_seconds)


def direct_sender(
    engine: Engine,
    *,
    settings: Settings | None = None,
    channels: dict[ChannelName, Channel] | None = None,
) -> Sender[DirectMessage]:
    settings = settings or get_settings()
    by_name = channels or channels_for(settings)
    return Sender(
        engine,
        DirectMessages(settings),
        channels={
            **{(name, False): channel for name, channel in by_name.items()},
            **{
                (name, True): channel
                for name, channel in channels_for(settings, drill=True).items()
            },
        },
    )
