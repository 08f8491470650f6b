"""The outbox core both lanes run on: claim due rows under a lease, send each (asking the
provider first about one whose outcome was lost), and record the outcomes in batches.

A lane says which table, which rows are due, how a claimed row becomes an ``Outbound`` and
what else an outcome records; the core knows no domain.

Exactly once, as far as the provider allows: a row that has a provider id is never sent
again, and one whose outcome is unknown (a timeout, a 5xx, a worker that died holding the
lease) is looked up at the provider before it may be sent again."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Engine, Select, Table, and_, bindparam, case, or_, update
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.config import Settings
from incident_cmd.db import skip_locked, table_of
from incident_cmd.messaging.channels import (
    Channel,
    ChannelName,
    Outbound,
    Outcome,
    Unsendable,
    describe,
    reason,
)
from incident_cmd.messaging.models import SinkMessage

log = logging.getLogger(__name__)

# How far back to look at the provider for a message whose answer was lost.
RECONCILE_WINDOW = timedelta(minutes=10)
# How long outcomes may wait to be written while sends go on.
FLUSH_SECONDS = 0.25
SINK_MESSAGES = table_of(SinkMessage)

Payload = TypeVar("Payload")


class State(StrEnum):
    """The states the core moves a row between; each lane's status enum has these values."""

    pending = "pending"
    sending = "sending"  # claimed, lease in claimed_until
    unknown = "unknown"  # handed over but the answer was lost: reconcile before resending
    sent = "sent"
    failed = "failed"


CLAIMABLE = (State.pending, State.unknown)


@dataclass(frozen=True)
class Claimed(Generic[Payload]):
    id: int
    channel: ChannelName
    drill: bool
    address: str
    was_unknown: bool
    last_attempt_at: datetime | None
    attempts: int  # this one included
    payload: Payload  # what the lane builds the Outbound from


@dataclass(frozen=True)
class Result(Generic[Payload]):
    claimed: Claimed[Payload]
    outcome: Outcome
    outbound: Outbound | None


@dataclass(frozen=True)
class Settled(Generic[Payload]):
    """What an outcome made of its row."""

    result: Result[Payload]
    status: State
    due_at: datetime | None
    error_message: str | None


class Waiter(Protocol):
    async def wait(self, stop: Any) -> None: ...

    async def close(self) -> None: ...


class Lane(Protocol[Payload]):
    settings: Settings
    # The outbox table (``db.table_of`` its model): id, status, due_at, attempts,
    # claimed_until, last_attempt_at, provider_id, error_code, error_message, sent_at. The
    # core writes it with Core statements, which name its columns in ``table.c``.
    table: Table
    lease: timedelta
    batch_size: int
    rate_per_second: float  # per sender; 0 is no limit
    flush_every: int  # outcomes written at once at the most
    reconcile_after: timedelta
    sinks_keep_id: bool  # whether a sink row names the outbox row

    def due(self, now: datetime) -> Select:
        """The ids of the rows due now, first due first."""
        ...

    def take(self, session: Session, ids: list[int], now: datetime) -> list[Claimed[Payload]]:
        """Of the due rows (locked), those to send now; the lane may settle or defer others."""
        ...

    def outbound(self, item: Claimed[Payload]) -> Outbound:
        """The message to hand over; raises ``Unsendable`` for one that can never be sent."""
        ...

    def retry_after(self, attempts: int) -> timedelta: ...

    def also_record(self, session: Session, settled: Sequence[Settled[Payload]]) -> None:
        """Whatever else the outcomes change, in the transaction that records them."""
        ...

    async def waiter(self, engine: Engine) -> Waiter:
        """How the loop waits when nothing is due."""
        ...


class Pause:
    """Waits ``seconds``, or less if the ``asyncio.Event`` to stop is set."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def wait(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.seconds)

    async def close(self) -> None:
        return None


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``rate`` 0 means no limit."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(2.0, rate / 20)
        self._tokens = self.burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                # Whatever the sleep overshot is credited, so the average rate holds.
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now


def _unrecordable(result: Result, exc: Exception) -> Outcome:
    """What is stored for an outcome the database refused: a sent message stays sent (its
    provider id is kept if it fits), anything else fails with the reason."""
    if result.outcome.kind == "sent":
        return Outcome("sent", provider_id=(result.outcome.provider_id or "")[:64] or None)
    # The driver's own message, without the statement and parameters SQLAlchemy adds.
    cause = getattr(exc, "orig", None) or exc
    return Outcome("permanent", error_message=reason(f"could not record the outcome: {cause}"))


class Sender(Generic[Payload]):
    """Runs one lane: many sends in flight on one event loop, outcomes written in batches."""

    def __init__(
        self,
        engine: Engine,
        lane: Lane[Payload],
        *,
        channels: dict[tuple[ChannelName, bool], Channel],
    ) -> None:
        self.engine = engine
        self.lane = lane
        self.settings = lane.settings
        self.channels = channels
        self.batch_size = lane.batch_size
        self.semaphore = asyncio.Semaphore(self.settings.dispatch_max_in_flight)
        self.buckets: dict[str, TokenBucket] = {}

    # --- database side (runs in a worker thread) --------------------------------------

    def claim(self, limit: int | None = None) -> tuple[list[Claimed[Payload]], int]:
        """The messages to send now, and how many due rows were taken in all (a lane may
        defer some or settle them without sending)."""
        now = clock.now()
        table = self.lane.table
        columns = table.c
        with Session(self.engine, expire_on_commit=False) as session:
            # A lease that ran out means the worker holding it died mid-send.
            session.execute(
                update(table)
                .where(columns.status == State.sending, columns.claimed_until < now)
                .values(status=State.unknown, claimed_until=None)
            )
            due = self.lane.due(now).limit(limit or self.batch_size)
            ids = list(session.execute(skip_locked(session, due, of=table)).scalars())
            if not ids:
                session.commit()
                return [], 0
            ready = self.lane.take(session, ids, now)
            if ready:
                session.execute(
                    update(table)
                    .where(columns.id.in_([item.id for item in ready]))
                    .values(
                        status=State.sending,
                        claimed_until=now + self.lane.lease,
                        attempts=columns.attempts + 1,
                        last_attempt_at=now,
                    )
                )
            session.commit()
        return ready, len(ids)

    def record(self, results: list[Result[Payload]]) -> None:
        """Writes outcomes in one transaction; if that fails (one row the database refuses),
        each outcome is written on its own, so one bad row never costs the others theirs.
        Raises only when the database cannot be written at all."""
        if not results:
            return
        try:
            self._write(results)
        except Exception:
            log.exception("recording %d outcomes at once failed; one by one now", len(results))
            for result in results:
                try:
                    self._write([result])
                except Exception as exc:
                    log.exception("could not record message %s", result.claimed.id)
                    self._write([Result(result.claimed, _unrecordable(result, exc), None)])

    def _settle(self, result: Result[Payload], now: datetime) -> Settled[Payload]:
        outcome, attempts = result.outcome, result.claimed.attempts
        if outcome.kind == "sent":
            return Settled(result, State.sent, None, None)
        if outcome.kind == "transient" and attempts < self.settings.dispatch_max_attempts:
            due = now + self.lane.retry_after(attempts)
            return Settled(result, State.pending, due, outcome.error_message)
        if outcome.kind == "unknown":
            # Never given up on while unknown: only the provider's answer (found, or not
            # found after the last attempt) settles it, in handle().
            due = now + max(self.lane.reconcile_after, self.lane.retry_after(attempts))
            return Settled(result, State.unknown, due, outcome.error_message)
        return Settled(result, State.failed, None, outcome.error_message or "gave up after retries")

    def _write(self, results: list[Result[Payload]]) -> None:
        now = clock.now()
        settled = [self._settle(result, now) for result in results]
        by_state: dict[State, list[dict[str, Any]]] = {state: [] for state in State}
        for item in settled:
            by_state[item.status].append(
                {
                    "o_id": item.result.claimed.id,
                    "o_provider": item.result.outcome.provider_id,
                    "o_due": item.due_at,
                    "o_code": item.result.outcome.error_code,
                    "o_message": item.error_message,
                }
            )
        table = self.lane.table
        columns = table.c
        status = columns.status
        by_id = columns.id == bindparam("o_id")
        # A status callback may have arrived first; never move it back.
        handed_over = or_(status == State.sending, status == State.unknown)
        statements = {
            State.sent: update(table)
            .where(by_id)
            .values(
                status=case((handed_over, State.sent.value), else_=status),
                provider_id=bindparam("o_provider"),
                sent_at=now,
                claimed_until=None,
                error_code=case((handed_over, None), else_=columns.error_code),
                error_message=case((handed_over, None), else_=columns.error_message),
            ),
            State.failed: update(table)
            .where(by_id)
            .values(
                status=State.failed,
                claimed_until=None,
                error_code=bindparam("o_code"),
                error_message=bindparam("o_message"),
            ),
        }
        for waiting in (State.pending, State.unknown):
            statements[waiting] = (
                update(table)
                .where(and_(by_id, status == State.sending))
                .values(
                    status=waiting,
                    due_at=bindparam("o_due"),
                    claimed_until=None,
                    error_code=bindparam("o_code"),
                    error_message=bindparam("o_message"),
                )
            )
        with Session(self.engine) as session:
            connection = session.connection()
            for state, rows in by_state.items():
                if rows:
                    connection.execute(statements[state], rows)
            sinks = [
                self._sink_row(item.result.claimed, outbound, now)
                for item in settled
                if (outbound := self._sunk(item)) is not None
            ]
            if sinks:
                session.execute(SINK_MESSAGES.insert(), sinks)
            self.lane.also_record(session, settled)
            session.commit()

    @staticmethod
    def _sunk(item: Settled[Payload]) -> Outbound | None:
        """The message a sink channel took, if this outcome is one."""
        provider_id = item.result.outcome.provider_id
        sunk = item.status == State.sent and provider_id and provider_id.startswith("SINK")
        return item.result.outbound if sunk else None

    def _sink_row(
        self, claimed: Claimed[Payload], outbound: Outbound, now: datetime
    ) -> dict[str, Any]:
        return {
            "delivery_id": claimed.id if self.lane.sinks_keep_id else None,
            "channel": claimed.channel,
            "address": claimed.address,
            "subject": outbound.subject,
            "body": outbound.body,
            "created_at": now,
        }

    # --- sending side (the event loop) -----------------------------------------------

    async def handle(self, item: Claimed[Payload]) -> Result[Payload]:
        """Never raises: whatever goes wrong with one message is that message's outcome."""
        try:
            outbound = self.lane.outbound(item)
        except Unsendable as exc:
            return Result(item, Outcome("permanent", error_message=str(exc)), None)
        except Exception as exc:  # a template that broke after approval: never retried
            return Result(item, Outcome("permanent", error_message=describe(exc)), None)
        try:
            return Result(item, await self._send(item, outbound), outbound)
        except Exception as exc:
            # Whether the provider took it is unknowable; failing it is what keeps it single.
            log.exception("message %s: the channel raised", item.id)
            return Result(item, Outcome("permanent", error_message=describe(exc)), outbound)

    async def _send(self, item: Claimed[Payload], outbound: Outbound) -> Outcome:
        channel = self.channels[(item.channel, item.drill)]
        async with self.semaphore:
            if item.was_unknown:
                since = (item.last_attempt_at or clock.now()) - RECONCILE_WINDOW
                try:
                    found = await channel.find_sent(outbound, since)
                except Exception as exc:
                    return Outcome("unknown", error_message=describe(exc))
                if found:
                    return Outcome("sent", provider_id=found)
                if item.attempts > self.settings.dispatch_max_attempts:
                    return Outcome(
                        "permanent",
                        error_message=f"outcome unknown after {item.attempts - 1} attempts "
                        "and the provider has no such message",
                    )
            await self._bucket(channel).take()
            return await channel.send(outbound)

    def _bucket(self, channel: Channel) -> TokenBucket:
        if channel.sender not in self.buckets:
            self.buckets[channel.sender] = TokenBucket(self.lane.rate_per_second)
        return self.buckets[channel.sender]

    async def drain(self) -> int:
        """Sends until nothing is due now, one batch at a time; returns how many messages were
        handed to a channel. For tests, drills and benchmarks; workers use ``run``."""
        total = 0
        while True:
            batch, taken = await asyncio.to_thread(self.claim)
            if not taken:
                return total
            results = await asyncio.gather(*(self.handle(item) for item in batch))
            await asyncio.to_thread(self.record, list(results))
            total += len(batch)

    async def run(self, stop: Any) -> None:
        """Keeps sends going, claiming more as they finish, and records outcomes in batches
        until ``stop`` (anything with ``is_set()``) is set.

        At most ``batch_size`` claimed messages wait here at a time, and a lane sizes it so
        that a claimed message is always sent long before another worker may take its lease
        for dead. A database that cannot be reached stops the claiming, not the sends in
        flight; their outcomes are kept and written when it answers again."""
        in_flight: set[asyncio.Task] = set()
        finished: list[Result[Payload]] = []
        flushed = time.monotonic()
        waiter = await self.lane.waiter(self.engine)
        try:
            while not stop.is_set() or in_flight:
                room = self.batch_size - len(in_flight)
                if not stop.is_set() and (room * 4 >= self.batch_size or not in_flight):
                    batch = await self._claim_quietly(room)
                    in_flight.update(asyncio.create_task(self.handle(item)) for item in batch)
                    if not in_flight:
                        finished = await self._record_quietly(finished)
                        await waiter.wait(stop)
                        continue
                done, in_flight = await asyncio.wait(
                    in_flight, timeout=0.05, return_when=asyncio.FIRST_COMPLETED
                )
                finished.extend(task.result() for task in done)
                # Outcomes are written often enough that no lease runs out unrecorded.
                if len(finished) >= self.lane.flush_every or (
                    finished and time.monotonic() - flushed > FLUSH_SECONDS
                ):
                    finished, flushed = await self._record_quietly(finished), time.monotonic()
        finally:
            # Whatever ends the loop, the outcomes already known are written first.
            if in_flight:
                done, _ = await asyncio.wait(in_flight)
                finished.extend(task.result() for task in done)
            try:
                await asyncio.to_thread(self.record, finished)
            finally:
                await waiter.close()

    async def _claim_quietly(self, room: int) -> list[Claimed[Payload]]:
        try:
            batch, _ = await asyncio.to_thread(self.claim, room)
        except Exception:
            log.exception("claiming messages failed; trying again shortly")
            return []
        return batch

    async def _record_quietly(self, finished: list[Result[Payload]]) -> list[Result[Payload]]:
        """What could not be written yet, to be tried again with the next flush."""
        try:
            await asyncio.to_thread(self.record, finished)
        except Exception:
            log.exception("recording %d outcomes failed; keeping them to retry", len(finished))
            return finished
        return []

    async def close(self) -> None:
        for channel in {id(channel): channel for channel in self.channels.values()}.values():
            await channel.close()
