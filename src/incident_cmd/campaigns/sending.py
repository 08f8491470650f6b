"""The bulk lane: a campaign's deliveries, sent by the outbox core many at a time under a
per-sender token bucket, their outcomes written in batches.

What only campaigns know stays here: a delivery is due only while its campaign is sending,
waits for the end of its recipient's quiet hours, is dropped if the address was suppressed
after the audience was drawn, and is rendered from its payload (the campaign's template and
stored context, the recipient as drawn), never from the customer or incident tables; a
provider's 21610 (unsubscribed) suppresses the address."""

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, Select, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from incident_cmd.campaigns import service
from incident_cmd.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from incident_cmd.campaigns.rendering import CampaignMessage, NoticeContext, template_context
from incident_cmd.config import Settings, get_settings
from incident_cmd.db import table_of
from incident_cmd.live import events as live
from incident_cmd.messaging import suppression
from incident_cmd.messaging.channels import (
    UNSUBSCRIBED_CODE,
    Channel,
    ChannelName,
    Outbound,
    channels_for,
    check_header_value,
)
from incident_cmd.messaging.outbox import CLAIMABLE, Claimed, Pause, Sender, Settled
from incident_cmd.messaging.templates import templates_for

RECONCILE_AFTER = timedelta(seconds=30)
# The per-recipient values a template puts in a subject or a greeting.
CONTEXT_VALUE_LENGTH = 1000
IDLE_SECONDS = 0.5
PROGRESS_EVENT = "campaign.progress"


def backoff(attempts: int) -> timedelta:
    """Exponential from 2 s, capped at 15 min, with ±25 % jitter so retries spread out."""
    base = min(2**attempts, 900)
    return timedelta(seconds=base * random.uniform(0.75, 1.25))


class Deliveries:
    """The lane's definition over the ``deliveries`` table."""

    table = table_of(Delivery)
    flush_every = 500
    reconcile_after = RECONCILE_AFTER
    sinks_keep_id = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lease = timedelta(seconds=settings.dispatch_lease_seconds)
        self.rate_per_second = settings.send_rate_per_second
        # Never claim more than can be sent well within the lease.
        rate = self.rate_per_second
        by_rate = int(rate * self.lease.total_seconds() / 4) if rate > 0 else None
        self.batch_size = max(1, min(settings.dispatch_batch_size, by_rate or 10**9))
        self.templates = templates_for(settings.template_dir)
        # (campaign id, incident id) of each delivery claimed here until its outcome is
        # written, so that announcing progress costs no query.
        self._campaign_of: dict[int, tuple[int, int | None]] = {}

    def due(self, now: datetime) -> Select:
        return (
            sa_select(col(Delivery.id))
            .join(Campaign, col(Campaign.id) == Delivery.campaign_id)
            .where(
                col(Delivery.status).in_(CLAIMABLE),
                col(Delivery.due_at) <= now,
                col(Campaign.status) == CampaignStatus.sending,
            )
            .order_by(col(Delivery.due_at))
        )

    def take(
        self, session: Session, ids: list[int], now: datetime
    ) -> list[Claimed[CampaignMessage]]:
        suppressed = suppression.covering_suppression(
            col(Campaign.channel), col(Delivery.address), col(Campaign.notice_class)
        )
        rows = session.execute(
            sa_select(Delivery, Campaign, suppressed.label("suppressed"))
            .join(Campaign, col(Campaign.id) == Delivery.campaign_id)
            .where(col(Delivery.id).in_(ids))
        ).all()
        ready: list[Claimed[CampaignMessage]] = []
        deferred: dict[tuple[int, str], datetime | None] = {}
        notices: dict[int, NoticeContext] = {}
        stopped: list[int] = []
        for delivery, campaign, is_suppressed in rows:
            if is_suppressed:
                stopped.append(delivery.id)
                continue
            key = (campaign.id, delivery.timezone)
            if key not in deferred:
                deferred[key] = service.quiet_until(campaign, delivery.timezone, now)
            if deferred[key] is not None:
                continue
            if campaign.id not in notices:
                notices[campaign.id] = NoticeContext.from_stored(campaign.context)
            message = CampaignMessage(
                template=campaign.template,
                locale=delivery.locale,
                name=delivery.name,
                product=delivery.product,
                batch=delivery.batch,
                notice=notices[campaign.id],
            )
            self._campaign_of[delivery.id] = (campaign.id, campaign.incident_id)
            ready.append(
                Claimed(
                    id=delivery.id,
                    channel=campaign.channel,
                    drill=campaign.drill,
                    address=delivery.address,
                    was_unknown=delivery.status == DeliveryStatus.unknown,
                    last_attempt_at=delivery.last_attempt_at,
                    attempts=delivery.attempts + 1,
                    payload=message,
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
        return ready

    def outbound(self, item: Claimed[CampaignMessage]) -> Outbound:
        message = item.payload
        for field, value in (
            ("name", message.name),
            ("product", message.product),
            ("batch", message.batch),
        ):
            # Data that reached the database before import refused it is checked again here.
            check_header_value(field, value, CONTEXT_VALUE_LENGTH)
        context = template_context(message, channel=item.channel, address=item.address)
        rendered = self.templates.render(message.template, item.channel, message.locale, context)
        base = self.settings.public_base_url.rstrip("/")
        return Outbound(
            delivery_id=item.id,
            address=item.address,
            body=rendered.body,
            subject=rendered.subject,
            html=rendered.html,
            unsubscribe_url=context.get("unsubscribe_url"),
            status_callback=f"{base}/webhooks/twilio/status?d={item.id}",
        )

    retry_after = staticmethod(backoff)

    def also_record(self, session: Session, settled: Sequence[Settled[CampaignMessage]]) -> None:
        # The funnel moves on every viewer's page once per batch, not once per message. (A
        # batch written only on a second try goes unannounced; the next one covers it.)
        ids = (item.result.claimed.id for item in settled)
        campaigns = {self._campaign_of.pop(id_) for id_ in ids if id_ in self._campaign_of}
        for campaign_id, incident_id in campaigns:
            live.announce(
                session, live.LiveEvent("campaign", campaign_id, PROGRESS_EVENT, incident_id)
            )
        for item in settled:
            if item.result.outcome.error_code == str(UNSUBSCRIBED_CODE):
                claimed = item.result.claimed
                suppression.suppress(
                    session,
                    channel=claimed.channel,
                    address=claimed.address,
                    reason="provider 21610",
                )

    async def waiter(self, engine: Engine) -> Pause:
        return Pause(IDLE_SECONDS)


def bulk_sender(
    engine: Engine,
    *,
    settings: Settings | None = None,
    channels: dict[tuple[ChannelName, bool], Channel] | None = None,
) -> Sender[CampaignMessage]:
    """The bulk lane's sender; a drill campaign goes to the sink channels."""
    settings = settings or get_settings()
    return Sender(
        engine,
        Deliveries(settings),
        channels=channels
        or {
            (name, drill): channel
            for drill in (False, True)
            for name, channel in channels_for(settings, drill=drill).items()
        },
    )
