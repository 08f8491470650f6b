"""The inbound SMS inbox: the webhook keeps what Twilio posted and answers at once; the worker
files it later, in order per sender, exactly once.

A recall notice to a million customers brings replies by the thousand within minutes, and a
reply the webhook cannot answer in time is retried by Twilio and, in the end, lost. So the
webhook does one thing that cannot wait: one INSERT (a repeated delivery of the same
MessageSid is kept once) and an empty TwiML answer. Everything that reads or changes the
domains (an answer to a page, STOP and the other keywords, a reply to a notice, a survey
rating, a ticket) runs in the worker's ``sms-inbox`` sweep through the same handlers in the
same order, and what the handlers answer goes out through the direct lane.

Exactly once: a message is marked processed in the transaction that acts on it, after
locking its row, so a second worker that takes it once the first one's lease ran out finds it
done. A worker killed after claiming leaves the lease to run out and the message is taken
again. In order per sender: a claim keeps no message of a sender while an earlier message of
that sender is still waiting elsewhere (claimed by another worker, or failed and waiting to
be retried), and a worker stops on a sender whose message failed."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, Index, Text, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from incident_cmd import clock
from incident_cmd.batching import GroupCommit
from incident_cmd.columns import UTCDateTime
from incident_cmd.config import get_settings
from incident_cmd.db import is_postgres, skip_locked, table_of, upsert_insert
from incident_cmd.i18n import Locale
from incident_cmd.integrations.twilio.handlers import InboundSms, SmsHandler, answer_many
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import Rendered
from incident_cmd.timeline import service as timeline

log = logging.getLogger(__name__)

# A claimed message is normally done within a second; a worker that has not finished it in a
# minute is taken to be dead, and its messages are claimed again.
LEASE = timedelta(seconds=60)
BATCH_SIZE = 200
# A message that fails this many times (a bug, not a busy database) is set aside, on the
# timeline, so that the sender's later messages are not held behind it forever.
MAX_ATTEMPTS = 5
RETRY_CAP = timedelta(minutes=5)
SOURCE = "sms_inbox"
SUBJECT = "sms_inbox"


class InboxOutcome:
    answered = "answered"  # a handler took it and answered
    taken = "taken"  # a handler took it, no answer
    ignored = "ignored"  # no handler took it
    failed = "failed"  # set aside after MAX_ATTEMPTS


class InboxSms(SQLModel, table=True):
    """An SMS as Twilio posted it (NUL removed, which PostgreSQL cannot hold), until the
    worker has filed it; kept afterwards as the record of what came in."""

    __tablename__ = "sms_inbox"
    __table_args__ = (
        Index("ix_sms_inbox_waiting", "processed_at", "id"),
        Index("ix_sms_inbox_sender", "from_address", "processed_at", "id"),
    )

    id: int = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64, unique=True)
    # Unbounded: the raw message is kept whatever Twilio sends; handlers cut it to their
    # columns when they file it.
    from_address: str = Field(sa_column=Column(Text, nullable=False))
    to_address: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    outcome: str | None = Field(default=None, max_length=16)


INBOX = table_of(InboxSms)


def store(session: Session, messages: Sequence[InboundSms]) -> list[None]:
    """The webhook's one statement, for every message of a group commit. Twilio retries a
    webhook it got no answer to: the same MessageSid is kept once."""
    now = clock.now()
    # One statement whatever the batch's size, compiled once: rows as parameters, not as
    # values written into the statement (compiling that anew for each batch cost more than
    # the insert).
    session.execute(
        upsert_insert(session, INBOX).on_conflict_do_nothing(index_elements=[INBOX.c.provider_id]),
        [
            {
                "provider_id": sms.provider_id,
                "from_address": sms.from_address.replace("\x00", ""),
                "to_address": sms.to_address.replace("\x00", ""),
                "body": sms.body.replace("\x00", ""),
                "received_at": now,
                "attempts": 0,
            }
            # A message twice in one batch (Twilio retried while the first was in flight)
            # is kept once here too.
            for sms in {sms.provider_id: sms for sms in reversed(messages)}.values()
        ],
    )
    return [None] * len(messages)


def writes() -> GroupCommit[InboundSms, None]:
    """The webhook's writes: the messages of concurrent requests kept in one INSERT and one
    commit (``batching``), each request answered once its message is durable."""
    return GroupCommit(store)


@dataclass(frozen=True)
class Claim:
    id: int
    sender: str


def claim(session: Session, *, limit: int = BATCH_SIZE) -> list[Claim]:
    """Leases the oldest waiting messages to this worker, in arrival order, leaving out any
    message with an earlier one from the same sender that this claim does not hold."""
    now = clock.now()
    due = (
        sa_select(INBOX.c.id, INBOX.c.from_address)
        .where(
            INBOX.c.processed_at.is_(None),
            or_(INBOX.c.claimed_until.is_(None), INBOX.c.claimed_until <= now),
        )
        .order_by(INBOX.c.id)
        .limit(limit)
    )
    rows = [Claim(id, sender) for id, sender in session.execute(skip_locked(session, due))]
    if not rows:
        return []
    ids = [row.id for row in rows]
    # Rows another worker holds (leased, or locked by its claim under way) are unprocessed
    # and not ours: any of them earlier than ours comes first.
    elsewhere = dict(
        session.execute(
            sa_select(INBOX.c.from_address, func.min(INBOX.c.id))
            .where(
                INBOX.c.processed_at.is_(None),
                INBOX.c.from_address.in_({row.sender for row in rows}),
                INBOX.c.id.not_in(ids),
            )
            .group_by(INBOX.c.from_address)
        ).all()
    )
    kept = [row for row in rows if row.sender not in elsewhere or row.id < elsewhere[row.sender]]
    if kept:
        session.execute(
            update(INBOX)
            .where(INBOX.c.id.in_([row.id for row in kept]))
            .values(claimed_until=now + LEASE)
        )
    return kept


def process(session: Session, *, message_id: int, handlers: tuple[SmsHandler, ...]) -> bool:
    """Files one claimed message; see ``process_many``."""
    return process_many(session, message_ids=[message_id], handlers=handlers) == 1


def process_many(
    session: Session, *, message_ids: Sequence[int], handlers: tuple[SmsHandler, ...]
) -> int:
    """Files claimed messages of distinct senders through the handlers, together, in the
    caller's transaction, and marks them processed there too; returns how many. One already
    processed (by a worker whose lease this one outlived) is left out: the row lock makes the
    second worker wait for the first one's commit."""
    query = (
        select(InboxSms)
        .where(col(InboxSms.id).in_(message_ids), col(InboxSms.processed_at).is_(None))
        .order_by(col(InboxSms.id))
    )
    if is_postgres(session):
        query = query.with_for_update()
    messages = list(session.exec(query).all())
    if not messages:
        return 0
    answers = answer_many(
        session,
        messages=[
            InboundSms(
                provider_id=message.provider_id,
                from_address=message.from_address,
                to_address=message.to_address,
                body=message.body,
            )
            for message in messages
        ],
        handlers=handlers,
    )
    now = clock.now()
    for message, handled in zip(messages, answers, strict=True):
        if handled is None:
            message.outcome = InboxOutcome.ignored
        elif handled.answer:
            _answer(session, message=message, text=handled.answer)
            message.outcome = InboxOutcome.answered
        else:
            message.outcome = InboxOutcome.taken
        message.processed_at = now
        session.add(message)
    return len(messages)


def _answer(session: Session, *, message: InboxSms, text: str) -> None:
    """What TwiML answered before the inbox, now sent by the direct lane: a page's
    confirmation, HELP, a reply option noted, the Chinese opt-out words' confirmation (the
    lane sends to a suppressed number: the confirmation is what the customer asked for)."""
    direct.enqueue(
        session,
        key=f"sms-inbox-{message.id}",
        source=SOURCE,
        source_id=message.id,
        subject=None,
        label="answer to an SMS",
        channel=ChannelName.sms,
        address=message.from_address,
        locale=Locale(get_settings().default_locale),
        rendered=Rendered(body=text),
    )


def _failed(session: Session, *, message_id: int, error: str) -> None:
    message = session.get_one(InboxSms, message_id)
    message.attempts += 1
    message.last_error = error[:500]
    if message.attempts >= MAX_ATTEMPTS:
        message.processed_at = clock.now()
        message.outcome = InboxOutcome.failed
        timeline.append(
            session,
            subject_type=SUBJECT,
            subject_id=message.id,
            kind="sms.set_aside",
            summary=f"SMS {message.provider_id} from {message.from_address!r} set aside after "
            f"{message.attempts} failed attempts: {message.last_error}",
            actor_id=None,
            data={"attempts": message.attempts, "error": message.last_error},
        )
    else:
        message.claimed_until = clock.now() + min(timedelta(seconds=2**message.attempts), RETRY_CAP)
    session.add(message)


def drain(session: Session, *, handlers: tuple[SmsHandler, ...], limit: int | None = None) -> int:
    """The ``sms-inbox`` sweep: claims and files waiting messages until none is left (or
    ``limit`` were filed). It commits, as the lanes do. A claim is filed in rounds, each
    sender's first message in the first round, its second in the second, and so on; a round
    is one transaction (a storm's messages, one a sender, are taken in together). A round
    that fails is filed again a message at a time, each in a transaction of its own: one
    message's failure must not undo another's ticket."""
    done = 0
    while limit is None or done < limit:
        claimed = claim(session, limit=BATCH_SIZE if limit is None else limit - done)
        session.commit()
        if not claimed:
            break
        stopped: set[str] = set()
        for wave in _rounds(claimed):
            left = [item for item in wave if item.sender not in stopped]
            if len(left) > 1:
                try:
                    done += process_many(
                        session, message_ids=[item.id for item in left], handlers=handlers
                    )
                    session.commit()
                    continue
                except Exception:
                    session.rollback()
                    log.warning(
                        "a round of %d inbound SMS failed; filing them one by one", len(left)
                    )
            done += _one_by_one(session, left, handlers=handlers, stopped=stopped)
    return done


def _rounds(claimed: list[Claim]) -> list[list[Claim]]:
    """The k-th claimed message of each sender in round k: a round holds one message a
    sender, and a sender's messages are filed in order, round after round."""
    rounds: list[list[Claim]] = []
    taken: dict[str, int] = {}
    for item in claimed:
        place = taken.get(item.sender, 0)
        taken[item.sender] = place + 1
        if place == len(rounds):
            rounds.append([])
        rounds[place].append(item)
    return rounds


def _one_by_one(
    session: Session, items: list[Claim], *, handlers: tuple[SmsHandler, ...], stopped: set[str]
) -> int:
    done = 0
    for item in items:
        try:
            done += process(session, message_id=item.id, handlers=handlers)
            session.commit()
        except Exception as error:
            session.rollback()
            log.exception("inbound SMS %d failed", item.id)
            # The sender's later messages are left leased: taken again after this one.
            stopped.add(item.sender)
            _failed(session, message_id=item.id, error=f"{type(error).__name__}: {error}")
            session.commit()
    return done


def waiting(session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(InboxSms).where(col(InboxSms.processed_at).is_(None))
    ).one()
