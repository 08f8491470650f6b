"""Campaigns: creation and approval, audience materialisation in the database, suppression,
replies and provider status. The dispatcher (dispatcher.py) does the sending."""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement, and_, case, delete, exists, func, literal, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns.models import (
    UNFINISHED,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    NoticeClass,
    Suppression,
)
from incident_cmd.campaigns.schemas import (
    Audience,
    CampaignCounts,
    CampaignCreate,
    CampaignPreview,
    PreviewLocale,
)
from incident_cmd.columns import UTCDateTime
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer, Purchase
from incident_cmd.db import skip_locked, upsert_insert
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.messaging.templates import LOCALES, sms_name, sms_shape, templates_for
from incident_cmd.playbooks.schema import NotificationPlan, Playbook
from incident_cmd.timeline import service as timeline
from incident_cmd.workdays import UNITS, parse_offset

SUBJECT = "campaign"
APPROVER_ROLES = (Role.admin, Role.duty_manager, Role.comms)
# Twilio answers its own opt-out keywords; the words Chinese carriers and customers use
# (退订 = unsubscribe, 取消 = cancel, T/TD = 退订) are confirmed by us.
PROVIDER_STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
CHINESE_STOP_WORDS = {"T", "TD", "退订", "取消", "取消订阅"}
STOP_WORDS = PROVIDER_STOP_WORDS | CHINESE_STOP_WORDS
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
OPTED_OUT_ANSWER = {
    "zh-CN": "您已退订{organisation}的短信通知。回复START可恢复。",
    "en": "You will get no more texts from {organisation}. Reply START to resume.",
}
# Twilio's own limit for a message body; anything longer is kept cut, with a marker.
INBOUND_BODY_LIMIT = 1600
TRUNCATED_MARKER = "…[truncated]"
# What the inbound_messages columns hold; an odd sender is kept cut rather than lost.
INBOUND_ADDRESS_LENGTH = 32
# Who may mark a hand-made campaign a safety notice, which reaches people who unsubscribed.
SAFETY_CLASS_ROLES = (Role.admin, Role.duty_manager)
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


def _record(
    session: Session,
    campaign: Campaign,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict | None = None,
) -> None:
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=campaign.id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data=data,
    )
    if campaign.incident_id is not None:
        timeline.append(
            session,
            subject_type="incident",
            subject_id=campaign.incident_id,
            kind=kind,
            summary=f"campaign {campaign.name!r}: {summary}",
            actor_id=actor_id,
            data={"campaign_id": campaign.id, **(data or {})},
        )


# --- message context -------------------------------------------------------------------


def status_url(incident_number: str | None) -> str:
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}/status/{incident_number}" if incident_number else f"{base}/status"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().signing_key, salt="unsubscribe")


def unsubscribe_token(address: str) -> str:
    return _serializer().dumps(address.lower())


def address_from_token(token: str) -> str:
    try:
        return _serializer().loads(token)
    except BadSignature:
        raise Forbidden("this unsubscribe link is not valid") from None


def unsubscribe_url(address: str) -> str:
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(address)}"


def message_context(
    *,
    channel: str,
    name: str,
    address: str,
    product: str | None,
    batch: str | None,
    incident_number: str | None,
    incident_title: str | None,
) -> dict[str, Any]:
    context = {
        "organisation": get_settings().organisation_name,
        "customer": {"name": name},
        "product": product or "",
        "batch": batch or "",
        "incident": {"number": incident_number or "", "title": incident_title or ""},
        "status_url": status_url(incident_number),
    }
    if channel == "email":
        # Signing costs more than rendering; SMS opt-out is by reply, not by link.
        context["unsubscribe_url"] = unsubscribe_url(address)
    else:
        context["customer"]["name"] = sms_name(name)
    return context


SAMPLE = {
    "name": "张三 Zhang San",
    "address": "sample@example.com",
    "product": "PX-200",
    "batch": "B2026-11",
}
# A name in the locale's own script, so that the preview's SMS encoding is the real one.
SAMPLE_NAMES = {"zh-CN": "张三", "en": "Alex Smith"}


# --- creation and approval -------------------------------------------------------------


def _incident(session: Session, incident_id: int | None) -> Incident | None:
    if incident_id is None:
        return None
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise Invalid(f"no incident with id {incident_id}", field="incident_id")
    return incident


def create_campaign(
    session: Session,
    *,
    data: CampaignCreate,
    actor: User,
    plan_key: str | None = None,
    skip_if_replied_to: int | None = None,
) -> Campaign:
    if data.audience.rule == "open_tickets":
        raise Invalid(
            "the open_tickets audience needs the ticket queue, which is not built yet",
            field="audience.rule",
        )
    incident = _incident(session, data.incident_id)
    _check_notice_class(data, incident, actor, from_plan=plan_key is not None)
    if data.safety_critical and plan_key is None and actor.role not in SAFETY_CLASS_ROLES:
        # Safety-critical notices ignore quiet hours: a duty manager's call, or the playbook's.
        raise Forbidden(
            f"role {actor.role!r} may not mark a campaign safety-critical (a duty manager may)",
            field="safety_critical",
        )
    templates = templates_for(get_settings().template_dir)
    templates.check(
        data.template,
        data.channel,
        message_context(
            channel=data.channel,
            **SAMPLE,
            incident_number=incident.number if incident else None,
            incident_title=incident.title if incident else None,
        ),
    )
    campaign = Campaign(
        name=data.name,
        incident_id=data.incident_id,
        plan_key=plan_key,
        channel=data.channel,
        template=data.template,
        audience=data.audience.model_dump(),
        status=CampaignStatus.draft,
        safety_critical=data.safety_critical,
        notice_class=data.notice_class,
        two_person_approval=data.two_person_approval,
        quiet_start=data.quiet_start,
        quiet_end=data.quiet_end,
        send_at=data.send_at,
        drill=incident.drill if incident else False,
        reply_keywords=data.reply_keywords,
        skip_if_replied_to=skip_if_replied_to,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(campaign)
    session.flush()
    _record(
        session,
        campaign,
        "campaign.created",
        f"{data.channel} campaign created from template {data.template}",
        actor.id,
    )
    return campaign


def _check_notice_class(
    data: CampaignCreate, incident: Incident | None, actor: User, *, from_plan: bool
) -> None:
    """A safety notice reaches people who unsubscribed from email, so it must be about an
    incident, and one made by hand needs a duty manager; a playbook's plans say their own."""
    if data.notice_class != NoticeClass.safety:
        return
    if incident is None:
        raise Invalid("a safety notice must belong to an incident", field="notice_class")
    if not from_plan and actor.role not in SAFETY_CLASS_ROLES:
        raise Forbidden(f"role {actor.role!r} may not mark a campaign as a safety notice")


def create_from_plan(
    session: Session, *, incident: Incident, plan: NotificationPlan, actor: User
) -> Campaign:
    scope = incident.scope
    if plan.audience == "scope_purchasers":
        audience = Audience(
            rule="scope_purchasers",
            products=scope["products"],
            batches=scope["batches"],
            regions=scope["regions"],
        )
    elif plan.audience == "scope_regions":
        audience = Audience(rule="scope_regions", regions=scope["regions"])
    else:
        raise Invalid(
            f"plan {plan.key!r} needs its audience chosen by hand ({plan.audience})", field="plan"
        )
    earlier = None
    if plan.skip_if_replied_to is not None:
        earlier = session.exec(
            select(Campaign.id).where(
                Campaign.incident_id == incident.id,
                Campaign.plan_key == plan.skip_if_replied_to,
            )
        ).first()
    data = CampaignCreate(
        name=f"{incident.number} {plan.key}",
        channel=plan.channel,
        template=plan.template,
        audience=audience,
        incident_id=incident.id,
        safety_critical=plan.safety_critical,
        notice_class=plan.notice_class,
        two_person_approval=plan.two_person_approval,
        send_at=incident.declared_at + _plan_offset(plan.offset),
        reply_keywords={
            key: label.model_dump(by_alias=True) for key, label in plan.reply_keywords.items()
        },
    )
    return create_campaign(
        session, data=data, actor=actor, plan_key=plan.key, skip_if_replied_to=earlier
    )


def _plan_offset(offset: str) -> timedelta:
    amount, unit = parse_offset(offset)
    if unit == "wd":
        return timedelta(days=amount)
    return timedelta(**{UNITS[unit]: amount})


def drafts_for_incident(
    session: Session, *, incident: Incident, playbook: Playbook, actor: User
) -> list[Campaign]:
    """Draft campaigns for every plan whose audience follows from the incident's scope."""
    drafts = []
    for plan in playbook.notifications:
        needs = {"scope_purchasers": ("products", "batches"), "scope_regions": ("regions",)}
        fields = needs.get(plan.audience)
        if fields and any(incident.scope.get(name) for name in fields):
            drafts.append(create_from_plan(session, incident=incident, plan=plan, actor=actor))
    return drafts


def get_campaign(session: Session, *, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign


def list_campaigns(session: Session, *, incident_id: int | None) -> Sequence[Campaign]:
    query = select(Campaign).order_by(col(Campaign.id).desc()).limit(200)
    if incident_id is not None:
        query = query.where(Campaign.incident_id == incident_id)
    return session.exec(query).all()


def _move(
    session: Session,
    campaign: Campaign,
    allowed_from: tuple[str, ...],
    target: CampaignStatus,
    actor: User,
    note: str,
) -> Campaign:
    if campaign.status not in allowed_from:
        raise Conflict(
            f"campaign {campaign.id} is {campaign.status}; cannot become {target}", field="status"
        )
    previous = campaign.status
    campaign.status = target
    session.add(campaign)
    suffix = f": {note}" if note else ""
    _record(
        session,
        campaign,
        f"campaign.{target}",
        f"{previous} → {target}{suffix}",
        actor.id,
        {"from": previous, "to": target},
    )
    return campaign


def approve(session: Session, *, campaign: Campaign, actor: User, note: str = "") -> Campaign:
    if actor.role not in APPROVER_ROLES:
        raise Forbidden(f"role {actor.role!r} may not approve campaigns")
    if campaign.two_person_approval and actor.id == campaign.created_by:
        raise Forbidden("this campaign needs a second person: its creator may not approve it")
    if actor.id == campaign.created_by and actor.role not in SAFETY_CLASS_ROLES:
        # Skipping the second person is a duty manager's call, whatever the campaign says.
        raise Forbidden(
            f"a {actor.role} may not approve a campaign they made: a second person approves "
            "it (only a duty manager may skip two-person approval)"
        )
    campaign.approved_by = actor.id
    campaign.approved_at = clock.now()
    return _move(session, campaign, (CampaignStatus.draft,), CampaignStatus.approved, actor, note)


def pause(session: Session, *, campaign: Campaign, actor: User, note: str = "") -> Campaign:
    return _move(
        session,
        campaign,
        (CampaignStatus.sending, CampaignStatus.scheduled, CampaignStatus.approved),
        CampaignStatus.paused,
        actor,
        note,
    )


def resume(session: Session, *, campaign: Campaign, actor: User, note: str = "") -> Campaign:
    target = CampaignStatus.sending if campaign.started_at else CampaignStatus.approved
    return _move(session, campaign, (CampaignStatus.paused,), target, actor, note)


def cancel(session: Session, *, campaign: Campaign, actor: User, note: str = "") -> Campaign:
    _move(
        session,
        campaign,
        (
            CampaignStatus.draft,
            CampaignStatus.approved,
            CampaignStatus.scheduled,
            CampaignStatus.sending,
            CampaignStatus.paused,
        ),
        CampaignStatus.cancelled,
        actor,
        note,
    )
    cancelled = session.execute(
        update(Delivery)
        .where(
            col(Delivery.campaign_id) == campaign.id, col(Delivery.status) == DeliveryStatus.pending
        )
        .values(status=DeliveryStatus.cancelled)
    ).rowcount
    campaign.finished_at = clock.now()
    _record(
        session,
        campaign,
        "campaign.deliveries_cancelled",
        f"{cancelled} messages not yet handed to the provider cancelled",
        actor.id,
    )
    return campaign


RETRYABLE_CAMPAIGNS = (CampaignStatus.sending, CampaignStatus.paused, CampaignStatus.completed)


def _never_handed_over() -> ColumnElement[bool]:
    return and_(
        col(Delivery.provider_id).is_(None),
        col(Delivery.sent_at).is_(None),
        col(Delivery.delivered_at).is_(None),
    )


@dataclass(frozen=True)
class FailureReason:
    reason: str
    count: int
    retryable: int


def failure_reasons(
    session: Session, *, campaign: Campaign, limit: int = 20
) -> list[FailureReason]:
    """The campaign's failed messages by reason, most frequent first, with how many of them
    no provider ever took (what a retry would send)."""
    reason = func.coalesce(Delivery.error_message, Delivery.error_code, "")
    retryable = func.sum(case((_never_handed_over(), 1), else_=0))
    rows = session.execute(
        select(reason, func.count(), retryable)
        .where(Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.failed)
        .group_by(reason)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    return [FailureReason(text or "no reason given", count, int(n or 0)) for text, count, n in rows]


def retry_failed(session: Session, *, campaign: Campaign, actor: User, note: str = "") -> int:
    """Queues again the campaign's messages that failed before any provider took them. One
    with a provider id, a send time or a delivery may have reached the person: never again."""
    if actor.role not in APPROVER_ROLES:
        raise Forbidden(f"role {actor.role!r} may not send campaigns")
    if campaign.status not in RETRYABLE_CAMPAIGNS:
        raise Conflict(
            f"campaign {campaign.id} is {campaign.status}; only a campaign that has been sending "
            "can retry its failed messages",
            field="status",
        )
    retried = session.execute(
        update(Delivery)
        .where(
            col(Delivery.campaign_id) == campaign.id,
            col(Delivery.status) == DeliveryStatus.failed,
            _never_handed_over(),
        )
        .values(
            status=DeliveryStatus.pending,
            due_at=clock.now(),
            attempts=0,
            claimed_until=None,
            error_code=None,
            error_message=None,
        )
    ).rowcount
    if retried and campaign.status == CampaignStatus.completed:
        campaign.status = CampaignStatus.sending
        campaign.finished_at = None
        session.add(campaign)
    suffix = f": {note}" if note else ""
    _record(
        session,
        campaign,
        "campaign.failed_retried",
        f"{retried} failed messages never handed to a provider queued again{suffix}",
        actor.id,
        {"retried": retried},
    )
    return retried


# --- audience --------------------------------------------------------------------------


def covering_suppression(
    channel: ColumnElement, address: ColumnElement, notice_class: ColumnElement
) -> ColumnElement[bool]:
    """Whether a suppression stops this message: every one does, except that an email
    unsubscribe lets a safety notice through."""
    suppressions = Suppression.__table__
    return exists().where(
        suppressions.c.channel == channel,
        suppressions.c.address == address,
        or_(~suppressions.c.spares_safety, notice_class != NoticeClass.safety.value),
    )




def _audience_query(campaign: Campaign, due: datetime, now: datetime):
    customers, purchases = Customer.__table__, Purchase.__table__
    deliveries = Delivery.__table__
    audience = Audience.model_validate(campaign.audience)
    address = customers.c.phone if campaign.channel == "sms" else customers.c.email
    suppressed = covering_suppression(
        literal(campaign.channel), address, literal(campaign.notice_class)
    )
    conditions = [address.is_not(None)]
    source = customers
    product, batch = literal(None), literal(None)
    if audience.rule == "scope_purchasers":
        source = customers.join(purchases, purchases.c.customer_id == customers.c.id)
        if audience.products:
            conditions.append(purchases.c.product_model.in_(audience.products))
        if audience.batches:
            conditions.append(purchases.c.batch.in_(audience.batches))
        if audience.regions:
            conditions.append(customers.c.region.in_(audience.regions))
        product, batch = func.min(purchases.c.product_model), func.min(purchases.c.batch)
    elif audience.rule == "scope_regions":
        conditions.append(customers.c.region.in_(audience.regions))
    elif audience.rule == "explicit":
        conditions.append(customers.c.external_ref.in_(audience.customers))
    if campaign.skip_if_replied_to is not None:
        earlier = deliveries.alias("earlier")
        conditions.append(
            ~exists().where(
                earlier.c.campaign_id == campaign.skip_if_replied_to,
                earlier.c.customer_id == customers.c.id,
                earlier.c.replied_at.is_not(None),
            )
        )
    query = (
        sa_select(
            literal(campaign.id).label("campaign_id"),
            customers.c.id.label("customer_id"),
            address.label("address"),
            customers.c.locale,
            customers.c.timezone,
            product.label("product"),
            batch.label("batch"),
            case(
                (suppressed, DeliveryStatus.suppressed.value), else_=DeliveryStatus.pending.value
            ).label("status"),
            literal(due, UTCDateTime()).label("due_at"),
            literal(0).label("attempts"),
        )
        .select_from(source)
        .where(*conditions)
    )
    if audience.rule == "scope_purchasers":
        # One row per customer however many matching purchases: the insert then needs no
        # ON CONFLICT, whose speculative insertion costs a third more on PostgreSQL.
        query = query.group_by(customers.c.id)
    return query


def materialize(session: Session, *, campaign: Campaign) -> int:
    """Turns the audience into delivery rows with one INSERT … SELECT; never row by row."""
    now = clock.now()
    due = max(campaign.send_at or now, now)
    deliveries = Delivery.__table__
    columns = [
        "campaign_id",
        "customer_id",
        "address",
        "timezone",
        "product",
        "batch",
        "status",
        "due_at",
        "attempts",
    ]
    audience = _audience_query(campaign, due, now).subquery()
    # Runs once per campaign, in the transaction that moves it to sending (on PostgreSQL
    # under the campaign's row lock); the unique (campaign, customer) index still forbids a
    # second copy should that ever be broken.
    statement = deliveries.insert().from_select(
        columns, sa_select(*(audience.c[name] for name in columns))
    )
    session.execute(statement)
    # Counted afterwards: psycopg reports no rowcount for this statement.
    return session.exec(
        select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign.id)
    ).one()


def start_due_campaigns(session: Session) -> int:
    """Approved campaigns: scheduled if their time has not come, else materialised and sent."""
    now = clock.now()
    query = (
        select(Campaign)
        .where(col(Campaign.status).in_((CampaignStatus.approved, CampaignStatus.scheduled)))
        .order_by(Campaign.id)
        .limit(20)
    )
    query = skip_locked(session, query)
    started = 0
    for campaign in session.exec(query).all():
        if campaign.send_at is not None and campaign.send_at > now:
            if campaign.status != CampaignStatus.scheduled:
                campaign.status = CampaignStatus.scheduled
                session.add(campaign)
                _record(
                    session,
                    campaign,
                    "campaign.scheduled",
                    f"scheduled for {campaign.send_at.isoformat()}",
                    None,
                )
            continue
        size = materialize(session, campaign=campaign)
        campaign.status = CampaignStatus.sending
        campaign.started_at = now
        campaign.audience_size = size
        session.add(campaign)
        _record(
            session,
            campaign,
            "campaign.sending",
            f"sending to {size} recipients",
            None,
            {"audience": size},
        )
        started += 1
    return started


def finish_campaigns(session: Session) -> int:
    unfinished = exists().where(
        col(Delivery.campaign_id) == Campaign.id, col(Delivery.status).in_(UNFINISHED)
    )
    query = select(Campaign).where(Campaign.status == CampaignStatus.sending, ~unfinished)
    query = skip_locked(session, query)
    campaigns = session.exec(query).all()
    for campaign in campaigns:
        campaign.status = CampaignStatus.completed
        campaign.finished_at = clock.now()
        session.add(campaign)
        counts = campaign_counts(session, campaign=campaign)
        _record(
            session,
            campaign,
            "campaign.completed",
            f"completed: {counts.sent + counts.delivered} sent or delivered, "
            f"{counts.failed + counts.undelivered} failed, {counts.suppressed} suppressed",
            None,
            counts.model_dump(),
        )
    return len(campaigns)


def campaign_counts(session: Session, *, campaign: Campaign) -> CampaignCounts:
    rows = session.exec(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign.id)
        .group_by(Delivery.status)
    ).all()
    counts = CampaignCounts()
    for status, count in rows:
        name = "sending" if status == DeliveryStatus.unknown else status
        setattr(counts, name, getattr(counts, name) + count)
        counts.total += count
    counts.replied = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.campaign_id == campaign.id, col(Delivery.replied_at).is_not(None))
    ).one()
    return counts


def preview(session: Session, *, campaign: Campaign) -> CampaignPreview:
    settings = get_settings()
    templates = templates_for(settings.template_dir)
    incident = _incident(session, campaign.incident_id)
    by_locale = dict(session.execute(_audience_counts_by_locale(campaign)).all())
    locales = []
    cost = 0.0
    for locale in LOCALES:
        rendered = templates.render(
            campaign.template,
            campaign.channel,
            locale,
            message_context(
                channel=campaign.channel,
                **{**SAMPLE, "name": SAMPLE_NAMES[locale]},
                incident_number=incident.number if incident else None,
                incident_title=incident.title if incident else None,
            ),
        )
        recipients = by_locale.get(locale, 0)
        item = PreviewLocale(
            locale=locale, recipients=recipients, subject=rendered.subject, body=rendered.body
        )
        if campaign.channel == "sms":
            shape = sms_shape(rendered.body)
            item.encoding, item.segments = shape.encoding, shape.segments
            cost += shape.segments * recipients * settings.sms_price_per_segment
        locales.append(item)
    sms = campaign.channel == "sms"
    return CampaignPreview(
        audience=sum(by_locale.values()),
        locales=locales,
        estimated_cost=round(cost, 2) if sms else None,
        currency=settings.sms_price_currency if sms else None,
    )


def _audience_counts_by_locale(campaign: Campaign):
    now = clock.now()
    audience = _audience_query(campaign, now, now).subquery()
    return (
        sa_select(audience.c.locale, func.count())
        .where(audience.c.status == DeliveryStatus.pending.value)
        .group_by(audience.c.locale)
    )


# --- quiet hours -----------------------------------------------------------------------


def clock_time(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def quiet_until(campaign: Campaign, zone_name: str, now: datetime) -> datetime | None:
    """When the recipient's quiet hours end, if ``now`` is inside them; None otherwise."""
    if campaign.safety_critical:
        return None
    return quiet_hours_end(zone_name, now, start=campaign.quiet_start, end=campaign.quiet_end)


def quiet_hours_end(
    zone_name: str, now: datetime, *, start: str | None = None, end: str | None = None
) -> datetime | None:
    """When quiet hours (the organisation's, unless given) end in that zone, if ``now`` is
    inside them; None otherwise."""
    settings = get_settings()
    start_at = clock_time(start or settings.quiet_hours_start)
    end_at = clock_time(end or settings.quiet_hours_end)
    if start_at == end_at:
        return None
    zone = ZoneInfo(zone_name)
    local = now.astimezone(zone)
    moment = local.time()
    overnight = start_at > end_at
    inside = (moment >= start_at or moment < end_at) if overnight else start_at <= moment < end_at
    if not inside:
        return None
    day = local.date()
    if overnight and moment >= start_at:
        day += timedelta(days=1)
    return datetime.combine(day, end_at, zone)


# --- suppression, replies, provider status ---------------------------------------------


def suppress(
    session: Session, *, channel: str, address: str, reason: str, spares_safety: bool = False
) -> None:
    """Suppresses the address in every campaign (but safety notices, if ``spares_safety``).
    Materialisation leaves suppressed addresses out and the dispatcher checks each claimed
    message, so nothing waiting is sent. A suppression only ever widens."""
    table = Suppression.__table__
    statement = upsert_insert(session, table).values(
        channel=channel,
        address=address,
        reason=reason,
        spares_safety=spares_safety,
        created_at=clock.now(),
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["channel", "address"],
            set_={
                "spares_safety": table.c.spares_safety & statement.excluded.spares_safety,
                "reason": case(
                    (statement.excluded.spares_safety, table.c.reason),
                    else_=statement.excluded.reason,
                ),
            },
        )
    )


def unsubscribe_email(session: Session, *, address: str) -> None:
    """An email unsubscribe: every notice but a recall's safety notice stops."""
    suppress(
        session, channel="email", address=address, reason="unsubscribe", spares_safety=True
    )
    for customer_id in session.exec(
        select(Customer.id).where(func.lower(Customer.email) == address.lower())
    ):
        timeline.append(
            session,
            subject_type="customer",
            subject_id=customer_id,
            kind="email.unsubscribed",
            summary="unsubscribed from email notices (safety recall notices still sent)",
            actor_id=None,
        )


def unsuppress(session: Session, *, channel: str, address: str) -> bool:
    return bool(
        session.execute(
            delete(Suppression).where(
                col(Suppression.channel) == channel, col(Suppression.address) == address
            )
        ).rowcount
    )


def is_suppressed(session: Session, *, channel: str, address: str) -> bool:
    return session.get(Suppression, (channel, address)) is not None


def record_provider_status(
    session: Session,
    *,
    delivery_id: int | None,
    provider_id: str,
    provider_status: str,
    error_code: str | None,
) -> bool:
    """Applies a status callback. Status only moves forward; repeats change nothing."""
    target = PROVIDER_STATUS.get(provider_status)
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
    changed = session.execute(
        update(Delivery)
        .where(match, col(Delivery.status).in_(EARLIER_THAN[target]))
        .values(**values)
    ).rowcount
    if error_code == "21610":
        delivery = session.exec(select(Delivery).where(match)).first()
        if delivery is not None:
            suppress(
                session,
                channel=session.get(Campaign, delivery.campaign_id).channel,
                address=delivery.address,
                reason="provider 21610",
            )
    return bool(changed)


def keyword(text: str) -> str:
    """What a customer typed, as a keyword: full-width letters and digits made plain (NFKC),
    any case, surrounding spaces and punctuation ignored ("ＴＤ", "td。" and "TD" are alike)."""
    word = unicodedata.normalize("NFKC", text).strip().upper()
    punctuation = "".join(
        char for char in set(word) if unicodedata.category(char).startswith("P")
    )
    return word.strip(punctuation + " ")


def kept_inbound_body(body: str) -> str:
    """The text as stored: NUL (which PostgreSQL cannot hold) removed, and anything over
    Twilio's limit cut with a visible marker rather than refused."""
    body = body.replace("\x00", "")
    if len(body) <= INBOUND_BODY_LIMIT:
        return body
    return body[: INBOUND_BODY_LIMIT - len(TRUNCATED_MARKER)] + TRUNCATED_MARKER


def kept_inbound_address(address: str) -> str:
    return address.replace("\x00", "")[:INBOUND_ADDRESS_LENGTH]


def _inbound_answer(session: Session, kind: str, word: str, from_address: str) -> str | None:
    settings = get_settings()
    if kind == "help":
        return settings.sms_help_text
    if kind == "stop" and word in CHINESE_STOP_WORDS:
        locale = session.exec(
            select(Customer.locale).where(Customer.phone == from_address).order_by(Customer.id)
        ).first()
        template = OPTED_OUT_ANSWER.get(locale or settings.default_locale, OPTED_OUT_ANSWER["en"])
        return template.format(organisation=settings.organisation_name)
    return None


def handle_inbound(
    session: Session, *, provider_id: str, from_address: str, to_address: str, body: str
) -> str | None:
    """Opt-out and other keywords, reply options, or a message kept for the ticket queue.
    Returns the text to answer with, if any. A repeated webhook for the same message changes
    nothing. Any sender is kept, a short code or a name as much as a phone number."""
    from_address, to_address = kept_inbound_address(from_address), kept_inbound_address(to_address)
    body = kept_inbound_body(body)
    previous = session.exec(
        select(InboundMessage).where(InboundMessage.provider_id == provider_id)
    ).first()
    word = keyword(body)
    if previous is not None:
        return _inbound_answer(session, previous.kind, word, from_address)
    latest = session.exec(
        select(Delivery)
        .where(
            Delivery.address == from_address,
            col(Delivery.sent_at).is_not(None),
        )
        .order_by(col(Delivery.sent_at).desc())
        .limit(1)
    ).first()
    kind, answer = "message", None
    if word in STOP_WORDS:
        kind = "stop"
        suppress(session, channel="sms", address=from_address, reason=f"replied {word}")
        _record_on_customer(session, from_address, "sms.opted_out", f"replied {word}: opted out")
    elif word in START_WORDS:
        kind = "start"
        unsuppress(session, channel="sms", address=from_address)
        _record_on_customer(session, from_address, "sms.opted_in", f"replied {word}: opted in")
    elif word in HELP_WORDS:
        kind = "help"
    elif latest is not None and word in _keywords(session, latest):
        kind = "reply"
        label = _keywords(session, latest)[word]
        latest.reply, latest.replied_at = word, clock.now()
        locale = session.get(Customer, latest.customer_id).locale
        session.add(latest)
        answer = ("已收到您的回复:" if locale == "zh-CN" else "Thank you, we noted: ") + label.get(
            locale, label.get("en", word)
        )
    answer = answer or _inbound_answer(session, kind, word, from_address)
    session.add(
        InboundMessage(
            provider_id=provider_id,
            from_address=from_address,
            to_address=to_address,
            body=body,
            kind=kind,
            delivery_id=latest.id if latest else None,
            received_at=clock.now(),
        )
    )
    return answer


def unfiled_message(session: Session, *, provider_id: str) -> InboundMessage | None:
    """The customer's free-text message with this id, if no ticket has taken it yet."""
    return session.exec(
        select(InboundMessage).where(
            InboundMessage.provider_id == provider_id,
            InboundMessage.kind == "message",
            col(InboundMessage.ticket_id).is_(None),
        )
    ).first()


def keep_unfiled(session: Session, *, inbound: InboundMessage) -> None:
    """A message no ticket can answer (a short code, a sender name): kept, and said so."""
    timeline.append(
        session,
        subject_type="inbound_sms",
        subject_id=inbound.id,
        kind="sms.unfiled",
        summary=f"SMS from {inbound.from_address!r} kept unfiled: a ticket cannot answer "
        "a sender that is not a phone number",
        actor_id=None,
    )


def _record_on_customer(session: Session, phone: str, kind: str, summary: str) -> None:
    customer_id = session.exec(select(Customer.id).where(Customer.phone == phone)).first()
    if customer_id is not None:
        timeline.append(
            session,
            subject_type="customer",
            subject_id=customer_id,
            kind=kind,
            summary=summary,
            actor_id=None,
        )


def _keywords(session: Session, delivery: Delivery) -> dict[str, dict[str, str]]:
    campaign = session.get(Campaign, delivery.campaign_id)
    return {key.upper(): label for key, label in (campaign.reply_keywords or {}).items()}
