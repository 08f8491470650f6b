"""The direct lane: one-to-one messages (pages, stand-downs, notes to a customer about their
ticket) sent apart from campaigns.

It has its own channel clients (so its requests never wait for a connection a campaign holds),
its own process or thread, no rate bucket, and it wakes on a NOTIFY from the transaction that
queued a message (PostgreSQL) or every ``page_poll_seconds``. A million-message recall in the
dispatcher does not delay a page.

Exactly once as far as the provider allows, as in the dispatcher: a message with a provider
id is never sent again, and one whose outcome was lost is looked up before a resend."""

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

import psycopg
from sqlalchemy import Engine, event, text, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from incident_cmd import aio, clock
from incident_cmd.config import Settings, get_settings
from incident_cmd.db import get_engine
from incident_cmd.notify.channels import Channel, Outbound, Outcome, channels_for, describe
from incident_cmd.notify.dispatcher import RECONCILE_WINDOW
from incident_cmd.notify.messages import Rendered
from incident_cmd.notify.models import DirectMessage, DirectMessageStatus, SinkMessage
from incident_cmd.timeline import service as timeline

log = logging.getLogger(__name__)

# The lane LISTENs here on PostgreSQL; a transaction that queues a message NOTIFYs it on
# commit, so the message goes out without waiting for the next poll.
WAKE_CHANNEL = "incident_cmd_direct"

CLAIMABLE = (DirectMessageStatus.pending, DirectMessageStatus.unknown)
LEASE = timedelta(seconds=60)
RECONCILE_AFTER = timedelta(seconds=5)


def enqueue(
    session: Session,
    *,
    key: str,
    source: str,
    source_id: int | None,
    subject: tuple[str, int] | None,
    label: str,
    channel: str,
    address: str,
    locale: str,
    rendered: Rendered,
    drill: bool = False,
    user_id: int | None = None,
    customer_id: int | None = None,
    due_at: datetime | None = None,
) -> DirectMessage:
    subject_type, subject_id = subject or (None, None)
    message = DirectMessage(
        key=key,
        source=source,
        source_id=source_id,
        subject_type=subject_type,
        subject_id=subject_id,
        label=label[:200],
        user_id=user_id,
        customer_id=customer_id,
        channel=channel,
        address=address,
        locale=locale,
        subject=rendered.subject,
        body=rendered.body,
        html=rendered.html,
        drill=drill,
        status=DirectMessageStatus.pending,
        due_at=due_at or clock.now(),
    )
    session.add(message)
    session.info[WAKE_CHANNEL] = True
    return message


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
            sa_select(DirectMessage)
            .where(
                col(DirectMessage.source) == source, col(DirectMessage.source_id).in_(source_ids)
            )
            .order_by(DirectMessage.id)
        ).scalars()
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

    def wait(self) -> None:
        if self._connection is None:
            time.sleep(self.seconds)
            return
        for _ in self._connection.notifies(timeout=self.seconds, stop_after=1):
            pass

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


@dataclass(frozen=True)
class Result:
    message: DirectMessage
    outcome: Outcome
    outbound: Outbound


class DirectSender:
    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings | None = None,
        channels: dict[str, Channel] | None = None,
        max_in_flight: int = 50,
    ) -> None:
        self.engine = engine
        self.settings = settings or get_settings()
        # Drills page real people on real channels: that is the point of a drill.
        self.channels = channels or channels_for(self.settings)
        self.max_in_flight = max_in_flight
        # One thread waits for work while the others claim and record.
        self._threads = ThreadPoolExecutor(max_workers=3, thread_name_prefix="direct")

    # --- database side ----------------------------------------------------------------

    def claim(self, limit: int = 50) -> list[DirectMessage]:
        now = clock.now()
        with Session(self.engine, expire_on_commit=False) as session:
            session.execute(
                update(DirectMessage)
                .where(
                    col(DirectMessage.status) == DirectMessageStatus.sending,
                    col(DirectMessage.claimed_until) < now,
                )
                .values(status=DirectMessageStatus.unknown, claimed_until=None)
            )
            query = (
                sa_select(DirectMessage)
                .where(col(DirectMessage.status).in_(CLAIMABLE), col(DirectMessage.due_at) <= now)
                .order_by(DirectMessage.due_at)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            messages = list(session.execute(query).scalars())
            # Detached as read: their status tells handle() whether to reconcile first.
            session.expunge_all()
            if messages:
                session.execute(
                    update(DirectMessage)
                    .where(col(DirectMessage.id).in_([message.id for message in messages]))
                    .values(
                        status=DirectMessageStatus.sending,
                        claimed_until=now + LEASE,
                        attempts=DirectMessage.attempts + 1,
                        last_attempt_at=now,
                    )
                )
            session.commit()
        return messages

    def record(self, result: Result) -> None:
        message, outcome = result.message, result.outcome
        now = clock.now()
        attempts = message.attempts + 1
        with Session(self.engine) as session:
            row = session.get(DirectMessage, message.id)
            row.claimed_until = None
            if outcome.kind == "sent":
                row.status, row.provider_id, row.sent_at = (
                    DirectMessageStatus.sent,
                    outcome.provider_id,
                    now,
                )
                if outcome.provider_id and outcome.provider_id.startswith("SINK"):
                    session.add(
                        SinkMessage(
                            channel=message.channel,
                            address=message.address,
                            subject=message.subject,
                            body=message.body,
                            created_at=now,
                        )
                    )
            elif outcome.kind == "unknown":
                # Never given up on while unknown: handle() settles it with the provider.
                row.status = DirectMessageStatus.unknown
                row.due_at = now + max(RECONCILE_AFTER, retry_after(attempts))
            elif outcome.kind == "transient" and attempts < self.settings.dispatch_max_attempts:
                row.status = DirectMessageStatus.pending
                row.due_at = now + retry_after(attempts)
            else:
                row.status = DirectMessageStatus.failed
            row.error_code, row.error_message = outcome.error_code, outcome.error_message
            session.add(row)
            if row.status in (DirectMessageStatus.sent, DirectMessageStatus.failed):
                self._on_timeline(session, row)
            session.commit()

    @staticmethod
    def _on_timeline(session: Session, row: DirectMessage) -> None:
        if row.subject_type is None:
            return
        sent = row.status == DirectMessageStatus.sent
        timeline.append(
            session,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            kind="message.sent" if sent else "message.failed",
            summary=f"{row.label} by {row.channel}: "
            + ("sent" if sent else f"failed: {row.error_message}"),
            actor_id=None,
            data={
                "message": row.id,
                "source": row.source,
                "source_id": row.source_id,
                "channel": row.channel,
                "provider_id": row.provider_id,
            },
        )

    # --- sending side -------------------------------------------------------------------

    def outbound(self, message: DirectMessage) -> Outbound:
        twiml = None
        if message.channel == "voice":
            twiml = keypad_twiml(message, self.settings.public_base_url)
        return Outbound(
            delivery_id=message.id,
            address=message.address,
            body=message.body,
            subject=message.subject,
            html=message.html,
            twiml=twiml,
        )

    async def handle(self, message: DirectMessage) -> Result:
        """Never raises: whatever goes wrong with one message is that message's outcome."""
        channel = self.channels[message.channel]
        outbound = self.outbound(message)
        if message.status == DirectMessageStatus.unknown:
            since = (message.last_attempt_at or clock.now()) - RECONCILE_WINDOW
            try:
                found = await channel.find_sent(outbound, since)
            except Exception as exc:
                return Result(message, Outcome("unknown", error_message=describe(exc)), outbound)
            if found:
                return Result(message, Outcome("sent", provider_id=found), outbound)
            if message.attempts >= self.settings.dispatch_max_attempts:
                gave_up = Outcome(
                    "permanent",
                    error_message=f"outcome unknown after {message.attempts} attempts "
                    "and the provider has no such message",
                )
                return Result(message, gave_up, outbound)
        try:
            outcome = await channel.send(outbound)
        except Exception as exc:  # a page must never take the lane down with it
            # Whether the provider took it is unknowable; failing it is what keeps it single.
            log.exception("direct message %s: the channel raised", message.id)
            outcome = Outcome("permanent", error_message=describe(exc))
        return Result(message, outcome, outbound)

    async def _in_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    async def _send(self, message: DirectMessage) -> None:
        result = await self.handle(message)
        try:
            await self._in_thread(self.record, result)
        except Exception:
            # The lease runs out and the message is reconciled at the provider, not resent.
            log.exception("could not record direct message %s", message.id)

    async def drain(self) -> int:
        """Sends everything due now; for tests and drills."""
        total = 0
        while batch := await self._in_thread(self.claim, self.max_in_flight):
            await asyncio.gather(*(self._send(message) for message in batch))
            total += len(batch)
        return total

    async def run(self, stop) -> None:
        in_flight: set[asyncio.Task] = set()
        wakeup = await self._in_thread(Wakeup, self.engine, self.settings.page_poll_seconds)
        try:
            while not stop.is_set():
                room = self.max_in_flight - len(in_flight)
                batch = await self._in_thread(self.claim, room) if room > 0 else []
                for message in batch:
                    task = asyncio.create_task(self._send(message))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if not batch:
                    await self._in_thread(wakeup.wait)
        finally:
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            await self._in_thread(wakeup.close)

    async def close(self) -> None:
        for channel in {id(channel): channel for channel in self.channels.values()}.values():
            await channel.close()
        self._threads.shutdown(wait=False)


def run_lane(stop, parent_pid: int | None = None) -> None:
    """Runs the direct lane until ``stop`` (a threading or multiprocessing Event) is set, or
    the parent process is gone."""
    if parent_pid is not None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        logging.getLogger("twilio").setLevel(logging.WARNING)
        # The parent decides when the lane stops; a Ctrl-C reaches the whole process group.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())

        def watch_parent() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent_pid:
                    stop.set()

        threading.Thread(target=watch_parent, daemon=True).start()
    aio.run(_lane(stop))


async def _lane(stop) -> None:
    while not stop.is_set():
        sender = DirectSender(get_engine())
        try:
            await sender.run(stop)
        except Exception:
            log.exception("direct lane failed; restarting it")
            await asyncio.sleep(1)
        finally:
            await sender.close()


class DirectLane:
    """The direct lane beside the dispatcher, never behind it: in a process of its own for
    workers (no shared interpreter lock with a dispatcher at full speed), or on a thread with
    its own event loop where one process does everything (``serve`` on SQLite)."""

    def __init__(self, *, separate_process: bool) -> None:
        if separate_process:
            context = multiprocessing.get_context("spawn")
            self._stop = context.Event()
            self._runner = context.Process(
                target=run_lane, args=(self._stop, os.getpid()), name="direct-lane", daemon=True
            )
        else:
            self._stop = threading.Event()
            self._runner = threading.Thread(
                target=run_lane, args=(self._stop,), name="direct-lane", daemon=True
            )

    def start(self) -> None:
        self._runner.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._runner.join(timeout)
