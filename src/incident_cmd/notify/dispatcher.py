"""The dispatcher: claims due deliveries in batches, sends many at once under a per-sender
token bucket, and records each outcome.

Exactly once, as far as the provider allows: a delivery that has a provider id is never sent
again, and one whose outcome is unknown (a timeout, a 5xx, a worker that died holding the
lease) is looked up at the provider before it may be sent again."""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, case, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from incident_cmd import clock
from incident_cmd.config import Settings, get_settings
from incident_cmd.customers.models import Customer
from incident_cmd.incidents.models import Incident
from incident_cmd.notify import service
from incident_cmd.notify.channels import (
    UNSUBSCRIBED_CODE,
    Channel,
    Outbound,
    Outcome,
    Unsendable,
    channels_for,
    check_header_value,
    describe,
    reason,
)
from incident_cmd.notify.messages import templates_for
from incident_cmd.notify.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    SinkMessage,
)

log = logging.getLogger(__name__)

CLAIMABLE = (DeliveryStatus.pending, DeliveryStatus.unknown)
RECONCILE_AFTER = timedelta(seconds=30)
# How far back to look at the provider for a message whose answer was lost.
RECONCILE_WINDOW = timedelta(minutes=10)
# The per-recipient values a template puts in a subject or a greeting.
CONTEXT_VALUE_LENGTH = 1000


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


@dataclass(frozen=True)
class Claimed:
    id: int
    campaign_id: int
    channel: str
    drill: bool
    template: str
    address: str
    locale: str
    name: str
    product: str | None
    batch: str | None
    incident_number: str | None
    incident_title: str | None
    was_unknown: bool
    last_attempt_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class Result:
    claimed: Claimed
    outcome: Outcome
    outbound: Outbound | None


def _unrecordable(result: Result, exc: Exception) -> Outcome:
    """What is stored for an outcome the database refused: a sent message stays sent (its
    provider id is kept if it fits), anything else fails with the reason."""
    if result.outcome.kind == "sent":
        return Outcome("sent", provider_id=(result.outcome.provider_id or "")[:64] or None)
    # The driver's own message, without the statement and parameters SQLAlchemy adds.
    cause = getattr(exc, "orig", None) or exc
    return Outcome("permanent", error_message=reason(f"could not record the outcome: {cause}"))


def backoff(attempts: int) -> timedelta:
    """Exponential from 2 s, capped at 15 min, with ±25 % jitter so retries spread out."""
    base = min(2**attempts, 900)
    return timedelta(seconds=base * random.uniform(0.75, 1.25))


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings | None = None,
        channels: dict[tuple[str, bool], Channel] | None = None,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.engine = engine
        self.settings = settings or get_settings()
        self.channels = channels or {
            **{(name, False): channel for name, channel in channels_for(self.settings).items()},
            **{
                (name, True): channel
                for name, channel in channels_for(self.settings, drill=True).items()
            },
        }
        self.lease = timedelta(seconds=self.settings.dispatch_lease_seconds)
        self.semaphore = asyncio.Semaphore(self.settings.dispatch_max_in_flight)
        self.buckets: dict[str, TokenBucket] = {}
        self.templates = templates_for(self.settings.template_dir)
        rate = self.settings.send_rate_per_second
        # Never claim more than can be sent well within the lease.
        by_rate = int(rate * self.lease.total_seconds() / 4) if rate > 0 else None
        self.batch_size = max(1, min(self.settings.dispatch_batch_size, by_rate or 10**9))

    # --- database side (runs in a worker thread) --------------------------------------

    def claim(self, limit: int | None = None) -> tuple[list[Claimed], int]:
        """The messages to send now, and how many due rows were taken in all (some are
        deferred to quiet hours' end or turn out to be suppressed)."""
        now = clock.now()
        with Session(self.engine, expire_on_commit=False) as session:
            # A lease that ran out means the worker holding it died mid-send.
            session.execute(
                update(Delivery)
                .where(
                    col(Delivery.status) == DeliveryStatus.sending,
                    col(Delivery.claimed_until) < now,
                )
                .values(status=DeliveryStatus.unknown, claimed_until=None)
            )
            ids_query = (
                sa_select(Delivery.id)
                .join(Campaign, col(Campaign.id) == Delivery.campaign_id)
                .where(
                    col(Delivery.status).in_(CLAIMABLE),
                    col(Delivery.due_at) <= now,
                    col(Campaign.status) == CampaignStatus.sending,
                )
                .order_by(Delivery.due_at)
                .limit(limit or self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                ids_query = ids_query.with_for_update(of=Delivery, skip_locked=True)
            ids = list(session.execute(ids_query).scalars())
            if not ids:
                session.commit()
                return [], 0
            suppressed = service.covering_suppression(
                Campaign.channel, Delivery.address, Campaign.notice_class
            )
            rows = session.execute(
                sa_select(
                    Delivery,
                    Campaign,
                    Customer.name,
                    Customer.locale,
                    Incident.number,
                    Incident.title,
                    suppressed.label("suppressed"),
                )
                .join(Campaign, col(Campaign.id) == Delivery.campaign_id)
                .join(Customer, col(Customer.id) == Delivery.customer_id)
                .outerjoin(Incident, col(Incident.id) == Campaign.incident_id)
                .where(col(Delivery.id).in_(ids))
            ).all()
            ready, deferred, stopped = [], {}, []
            for delivery, campaign, name, locale, number, title, is_suppressed in rows:
                if is_suppressed:
                    stopped.append(delivery.id)
                    continue
                key = (campaign.id, delivery.timezone)
                if key not in deferred:
                    deferred[key] = service.quiet_until(campaign, delivery.timezone, now)
                if deferred[key] is not None:
                    continue
                ready.append(
                    Claimed(
                        id=delivery.id,
                        campaign_id=campaign.id,
                        channel=campaign.channel,
                        drill=campaign.drill,
                        template=campaign.template,
                        address=delivery.address,
                        locale=locale,
                        name=name,
                        product=delivery.product,
                        batch=delivery.batch,
                        incident_number=number,
                        incident_title=title,
                        was_unknown=delivery.status == DeliveryStatus.unknown,
                        last_attempt_at=delivery.last_attempt_at,
                        attempts=delivery.attempts + 1,
                    )
                )
            if stopped:
                # Opted out after the audience was drawn: never sent, in any campaign.
                session.execute(
                    update(Delivery)
                    .where(col(Delivery.id).in_(stopped))
                    .values(status=DeliveryStatus.suppressed)
                )
            for (campaign_id, zone), until in deferred.items():
                if until is not None:
                    # One statement defers everyone in that zone until their morning.
                    session.execute(
                        update(Delivery)
                        .where(
                            col(Delivery.campaign_id) == campaign_id,
                            col(Delivery.timezone) == zone,
                            col(Delivery.status).in_(CLAIMABLE),
                            col(Delivery.due_at) < until,
                        )
                        .values(due_at=until)
                    )
            if ready:
                session.execute(
                    update(Delivery)
                    .where(col(Delivery.id).in_([item.id for item in ready]))
                    .values(
                        status=DeliveryStatus.sending,
                        claimed_until=now + self.lease,
                        attempts=Delivery.attempts + 1,
                        last_attempt_at=now,
                    )
                )
            session.commit()
        return ready, len(ids)

    def record(self, results: list[Result]) -> None:
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
                    log.exception("could not record delivery %s", result.claimed.id)
                    self._write([Result(result.claimed, _unrecordable(result, exc), None)])

    def _write(self, results: list[Result]) -> None:
        now = clock.now()
        sent, retry, failed, unknown, sinks = [], [], [], [], []
        max_attempts = self.settings.dispatch_max_attempts
        for result in results:
            outcome, claimed = result.outcome, result.claimed
            if outcome.kind == "sent":
                sent.append({"d_id": claimed.id, "d_provider": outcome.provider_id})
                sink = outcome.provider_id and outcome.provider_id.startswith("SINK")
                if sink and result.outbound is not None:
                    sinks.append(
                        {
                            "delivery_id": claimed.id,
                            "channel": claimed.channel,
                            "address": claimed.address,
                            "subject": result.outbound.subject,
                            "body": result.outbound.body,
                            "created_at": now,
                        }
                    )
            elif outcome.kind == "transient" and claimed.attempts < max_attempts:
                retry.append(
                    {
                        "d_id": claimed.id,
                        "d_due": now + backoff(claimed.attempts),
                        "d_code": outcome.error_code,
                        "d_message": outcome.error_message,
                    }
                )
            elif outcome.kind == "unknown":
                # Never given up on while unknown: only the provider's answer (found, or
                # not found after the last attempt) settles it, in handle().
                unknown.append(
                    {
                        "d_id": claimed.id,
                        "d_due": now + max(RECONCILE_AFTER, backoff(claimed.attempts)),
                        "d_code": outcome.error_code,
                        "d_message": outcome.error_message,
                    }
                )
            else:
                failed.append(
                    {
                        "d_id": claimed.id,
                        "d_code": outcome.error_code,
                        "d_message": outcome.error_message or "gave up after retries",
                    }
                )
        by_id = col(Delivery.id) == bindparam("d_id")
        with Session(self.engine) as session:
            connection = session.connection()
            if sent:
                connection.execute(
                    update(Delivery)
                    .where(by_id)
                    .values(
                        # A status callback may have arrived first; never move it back.
                        status=case(
                            (
                                or_(
                                    col(Delivery.status) == DeliveryStatus.sending,
                                    col(Delivery.status) == DeliveryStatus.unknown,
                                ),
                                DeliveryStatus.sent.value,
                            ),
                            else_=Delivery.status,
                        ),
                        provider_id=bindparam("d_provider"),
                        sent_at=now,
                        claimed_until=None,
                    )
                    .execution_options(synchronize_session=False),
                    sent,
                )
            for rows, status in (
                (retry, DeliveryStatus.pending),
                (unknown, DeliveryStatus.unknown),
            ):
                if rows:
                    connection.execute(
                        update(Delivery)
                        .where(and_(by_id, col(Delivery.status) == DeliveryStatus.sending))
                        .values(
                            status=status,
                            due_at=bindparam("d_due"),
                            claimed_until=None,
                            error_code=bindparam("d_code"),
                            error_message=bindparam("d_message"),
                        )
                        .execution_options(synchronize_session=False),
                        rows,
                    )
            if failed:
                connection.execute(
                    update(Delivery)
                    .where(by_id)
                    .values(
                        status=DeliveryStatus.failed,
                        claimed_until=None,
                        error_code=bindparam("d_code"),
                        error_message=bindparam("d_message"),
                    )
                    .execution_options(synchronize_session=False),
                    failed,
                )
            if sinks:
                session.execute(SinkMessage.__table__.insert(), sinks)
            for result in results:
                if result.outcome.error_code == str(UNSUBSCRIBED_CODE):
                    service.suppress(
                        session,
                        channel=result.claimed.channel,
                        address=result.claimed.address,
                        reason="provider 21610",
                    )
            session.commit()

    # --- sending side (the event loop) -----------------------------------------------

    def _outbound(self, item: Claimed) -> Outbound:
        for field, value in (("name", item.name), ("product", item.product), ("batch", item.batch)):
            # Data that reached the database before import refused it is checked again here.
            check_header_value(field, value, CONTEXT_VALUE_LENGTH)
        context = service.message_context(
            channel=item.channel,
            name=item.name,
            address=item.address,
            product=item.product,
            batch=item.batch,
            incident_number=item.incident_number,
            incident_title=item.incident_title,
        )
        rendered = self.templates.render(item.template, item.channel, item.locale, context)
        base = self.settings.public_base_url.rstrip("/")
        headers: tuple[tuple[str, str], ...] = ()
        if item.channel == "email":
            link = context["unsubscribe_url"]
            headers = (
                ("List-Unsubscribe", f"<{link}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            )
        return Outbound(
            delivery_id=item.id,
            address=item.address,
            body=rendered.body,
            subject=rendered.subject,
            html=rendered.html,
            headers=headers,
            status_callback=f"{base}/webhooks/twilio/status?d={item.id}",
        )

    def _bucket(self, channel: Channel) -> TokenBucket:
        if channel.sender not in self.buckets:
            self.buckets[channel.sender] = TokenBucket(self.settings.send_rate_per_second)
        return self.buckets[channel.sender]

    async def handle(self, item: Claimed) -> Result:
        """Never raises: whatever goes wrong with one message is that message's outcome."""
        try:
            outbound = self._outbound(item)
        except Unsendable as exc:
            return Result(item, Outcome("permanent", error_message=str(exc)), None)
        except Exception as exc:  # a template that broke after approval: never retried
            return Result(item, Outcome("permanent", error_message=describe(exc)), None)
        try:
            return Result(item, await self._send(item, outbound), outbound)
        except Exception as exc:
            # Whether the provider took it is unknowable; failing it is what keeps it single.
            log.exception("delivery %s: the channel raised", item.id)
            return Result(item, Outcome("permanent", error_message=describe(exc)), outbound)

    async def _send(self, item: Claimed, outbound: Outbound) -> Outcome:
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

    async def run(
        self, stop: asyncio.Event, idle_seconds: float = 0.5, flush_every: int = 500
    ) -> None:
        """Keeps sends going, claiming more as they finish, and records outcomes in batches.

        At most ``batch_size`` claimed messages wait here at a time, and ``batch_size`` is
        what the rate limit lets out in a quarter of the lease: a claimed message is always
        sent long before another worker may take its lease for dead. A database that cannot
        be reached stops the claiming, not the sends in flight; their outcomes are kept and
        written when it answers again."""
        in_flight: set[asyncio.Task] = set()
        finished: list[Result] = []
        flushed = time.monotonic()
        try:
            while not stop.is_set() or in_flight:
                room = self.batch_size - len(in_flight)
                if not stop.is_set() and (room * 4 >= self.batch_size or not in_flight):
                    batch = await self._claim_quietly(room)
                    in_flight.update(asyncio.create_task(self.handle(item)) for item in batch)
                    if not in_flight:
                        finished = await self._record_quietly(finished)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), idle_seconds)
                        continue
                done, in_flight = await asyncio.wait(
                    in_flight, timeout=0.05, return_when=asyncio.FIRST_COMPLETED
                )
                finished.extend(task.result() for task in done)
                # Outcomes are written often enough that no lease runs out unrecorded.
                if len(finished) >= flush_every or (
                    finished and time.monotonic() - flushed > 0.25
                ):
                    finished, flushed = await self._record_quietly(finished), time.monotonic()
        finally:
            # Whatever ends the loop, the outcomes already known are written first.
            if in_flight:
                done, _ = await asyncio.wait(in_flight)
                finished.extend(task.result() for task in done)
            await asyncio.to_thread(self.record, finished)

    async def _claim_quietly(self, room: int) -> list[Claimed]:
        try:
            batch, _ = await asyncio.to_thread(self.claim, room)
        except Exception:
            log.exception("claiming deliveries failed; trying again shortly")
            return []
        return batch

    async def _record_quietly(self, finished: list[Result]) -> list[Result]:
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
