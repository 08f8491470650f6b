"""Campaigns: creation and approval, audiences drawn in the database, quiet hours,
scheduling, previews and retries. The bulk lane (sending.py) does the sending."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    true,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns import rendering
from incident_cmd.campaigns.models import (
    UNFINISHED,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    NoticeClass,
)
from incident_cmd.campaigns.rendering import NoticeContext
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
from incident_cmd.db import skip_locked, table_of
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.i18n import LOCALES
from incident_cmd.incidents.models import Incident
from incident_cmd.messaging import quiet_hours, suppression
from incident_cmd.messaging.channels import CHANNEL_USES, ChannelName
from incident_cmd.messaging.templates import sms_shape
from incident_cmd.tickets.models import OPEN_TICKET_STATUSES, Ticket, TicketStatus
from incident_cmd.timeline import service as timeline

SUBJECT = "campaign"
APPROVER_ROLES = (Role.admin, Role.duty_manager, Role.comms)
# Who may mark a hand-made campaign a safety notice, which reaches people who unsubscribed.
SAFETY_CLASS_ROLES = (Role.admin, Role.duty_manager)


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
            data={
                "campaign_id": campaign.id,
                "notice": campaign.name,
                "plan_key": campaign.plan_key,
                **(data or {}),
            },
        )


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
    audience = data.audience
    if audience.rule == "open_tickets" and data.incident_id is None and not _scoped(audience):
        raise Invalid(
            "open_tickets needs an incident (its linked complaints) or products, batches or "
            "regions to match complaints by",
            field="audience",
        )
    incident = _incident(session, data.incident_id)
    _check_notice_class(data, incident, actor, from_plan=plan_key is not None)
    if data.safety_critical and plan_key is None and actor.role not in SAFETY_CLASS_ROLES:
        # Safety-critical notices ignore quiet hours: a duty manager's call, or the playbook's.
        raise Forbidden(
            f"role {actor.role!r} may not mark a campaign safety-critical (a duty manager may)",
            field="safety_critical",
        )
    notice = NoticeContext(
        incident_number=incident.number if incident else None,
        incident_title=incident.title if incident else None,
    )
    for locale in LOCALES:
        # Refuses now what would fail for every recipient at send time.
        rendering.render(
            rendering.sample(data.template, locale, notice),
            channel=data.channel,
            address=rendering.SAMPLE_ADDRESS,
        )
    campaign = Campaign(
        name=data.name,
        incident_id=data.incident_id,
        plan_key=plan_key,
        channel=data.channel,
        template=data.template,
        audience=data.audience.model_dump(mode="json"),
        context=notice.stored(),
        status=CampaignStatus.draft,
        safety_critical=data.safety_critical,
        notice_class=NoticeClass(data.notice_class),
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


def create_calendar_campaign(session: Session, *, data: CampaignCreate, reason: str) -> Campaign:
    """A campaign the calendar makes and sends by itself: no person creates or approves it,
    so it may only be an ordinary notice (never safety-critical, never past an unsubscribe,
    never through quiet hours) from a template shipped with the product."""
    if data.safety_critical or data.notice_class != NoticeClass.update or data.incident_id:
        raise Invalid("a calendar campaign is an ordinary update notice", field="notice_class")
    for locale in LOCALES:
        rendering.render(
            rendering.sample(data.template, locale, NoticeContext()),
            channel=data.channel,
            address=rendering.SAMPLE_ADDRESS,
        )
    now = clock.now()
    campaign = Campaign(
        name=data.name,
        channel=data.channel,
        template=data.template,
        audience=data.audience.model_dump(mode="json"),
        context=NoticeContext().stored(),
        status=CampaignStatus.approved,
        quiet_start=data.quiet_start,
        quiet_end=data.quiet_end,
        send_at=data.send_at,
        reply_keywords=data.reply_keywords,
        created_at=now,
        approved_at=now,
    )
    session.add(campaign)
    session.flush()
    _record(
        session,
        campaign,
        "campaign.created_by_calendar",
        f"{data.channel} campaign created and approved by the calendar: {reason}",
        None,
        {"reason": reason, "name": data.name},
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


def plan_campaign_id(session: Session, *, incident_id: int, plan_key: str) -> int | None:
    """The campaign an incident's notification plan made, if it made one."""
    return session.exec(
        select(Campaign.id).where(
            Campaign.incident_id == incident_id, Campaign.plan_key == plan_key
        )
    ).first()


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
    cancelled = session.exec(
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
        {"cancelled": cancelled},
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
    retried = session.exec(
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


def _audience_query(campaign: Campaign, due: datetime, now: datetime):
    customers, purchases = table_of(Customer), table_of(Purchase)
    deliveries, tickets = table_of(Delivery), table_of(Ticket)
    audience = Audience.model_validate(campaign.audience)
    address = customers.c[CHANNEL_USES[campaign.channel].reaches.value]
    suppressed = suppression.covering_suppression(
        literal(campaign.channel), address, literal(campaign.notice_class)
    )
    # A drill's notice reaches its made-up customers only, and a real one never reaches them.
    conditions: list[ColumnElement[bool]] = [
        address.is_not(None),
        customers.c.synthetic.is_(true() if campaign.drill else false()),
    ]
    source: FromClause = customers
    product: ColumnElement[str | None] = literal(None)
    batch: ColumnElement[str | None] = literal(None)
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
    elif audience.rule == "open_tickets":
        source = customers.join(tickets, tickets.c.customer_id == customers.c.id)
        conditions.append(_open_complaint(tickets, campaign.incident_id, audience))
        product, batch = func.min(tickets.c.product_model), func.min(tickets.c.batch)
    elif audience.rule == "closed_tickets":
        source = customers.join(tickets, tickets.c.customer_id == customers.c.id)
        conditions += [
            tickets.c.status == TicketStatus.closed.value,
            tickets.c.closed_at >= audience.closed_from,
            tickets.c.closed_at < audience.closed_until,
        ]
        product, batch = func.min(tickets.c.product_model), func.min(tickets.c.batch)
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
            customers.c.name,
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
    if audience.rule in ("scope_purchasers", "open_tickets", "closed_tickets"):
        # One row per customer however many matching purchases or complaints: the insert then
        # needs no ON CONFLICT, whose speculative insertion costs a third more on PostgreSQL.
        query = query.group_by(customers.c.id)
    return query


def _scoped(audience: Audience) -> bool:
    return bool(audience.products or audience.batches or audience.regions)


def _open_complaint(
    tickets: Table, incident_id: int | None, audience: Audience
) -> ColumnElement[bool]:
    """A complaint still open that belongs to the incident: linked to it, or about what its
    scope names (every dimension given must match) and linked to no other incident."""
    belongs: list[ColumnElement[bool]] = []
    if incident_id is not None:
        belongs.append(tickets.c.incident_id == incident_id)
    if _scoped(audience):
        matches = [tickets.c.incident_id.is_(None)]
        if audience.products:
            matches.append(tickets.c.product_model.in_(audience.products))
        if audience.batches:
            matches.append(tickets.c.batch.in_(audience.batches))
        if audience.regions:
            matches.append(tickets.c.region.in_(audience.regions))
        belongs.append(and_(*matches))
    return and_(tickets.c.status.in_(OPEN_TICKET_STATUSES), or_(*belongs))


def materialize(session: Session, *, campaign: Campaign) -> int:
    """Turns the audience into delivery rows with one INSERT … SELECT; never row by row."""
    now = clock.now()
    due = max(campaign.send_at or now, now)
    deliveries = table_of(Delivery)
    columns = [
        "campaign_id",
        "customer_id",
        "address",
        "name",
        "locale",
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
        .order_by(col(Campaign.id))
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
                    {"send_at": campaign.send_at.isoformat()},
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
    notice = NoticeContext.from_stored(campaign.context)
    by_locale = dict(session.execute(_audience_counts_by_locale(campaign)).all())
    locales = []
    cost = 0.0
    for locale in LOCALES:
        rendered = rendering.render(
            rendering.sample(campaign.template, locale, notice),
            channel=campaign.channel,
            address=rendering.SAMPLE_ADDRESS,
        )
        recipients = by_locale.get(locale, 0)
        item = PreviewLocale(
            locale=locale, recipients=recipients, subject=rendered.subject, body=rendered.body
        )
        if campaign.channel == ChannelName.sms:
            shape = sms_shape(rendered.body)
            item.encoding, item.segments = shape.encoding, shape.segments
            cost += shape.segments * recipients * settings.sms_price_per_segment
        locales.append(item)
    sms = campaign.channel == ChannelName.sms
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


def quiet_until(campaign: Campaign, zone_name: str, now: datetime) -> datetime | None:
    """When the recipient's quiet hours end, if ``now`` is inside them; None otherwise."""
    if campaign.safety_critical:
        return None
    return quiet_hours.end_of_quiet_hours(
        zone_name, now, start=campaign.quiet_start, end=campaign.quiet_end
    )


# --- unsubscribing ---------------------------------------------------------------------


def unsubscribe_email(session: Session, *, address: str) -> None:
    """An email unsubscribe: every notice but a recall's safety notice stops."""
    suppression.suppress(
        session,
        channel=ChannelName.email,
        address=address,
        reason="unsubscribe",
        spares_safety=True,
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


@dataclass(frozen=True)
class NoticeProgress:
    """An incident's campaigns by status, and how far the ones in flight have got."""

    by_status: dict[CampaignStatus, int]
    in_flight_total: int  # messages of the sending and paused campaigns
    in_flight_done: int  # of which no longer waiting to be sent


IN_FLIGHT = (CampaignStatus.sending, CampaignStatus.paused)


def notice_progress(session: Session, *, incident_ids: Sequence[int]) -> dict[int, NoticeProgress]:
    """``campaign_counts`` for many incidents at once, in at most two queries. Only campaigns
    in flight have their messages counted: a finished campaign's figures are on its page, and
    counting them here would read every delivery ever made for an open incident.

    The board asks this on every refresh, while a campaign of 100,000 messages sends, so
    nothing counts what is already known: a started campaign's messages are its
    ``audience_size`` (its delivery rows, counted when they were made, and none is made after),
    and only those still unfinished are counted, for these campaigns by id, on the (campaign,
    customer) and (status, due) indexes. Joining campaigns to deliveries instead let the planner
    walk the (campaign, customer) index through other campaigns' finished messages."""
    if not incident_ids:
        return {}
    by_status: dict[int, dict[CampaignStatus, int]] = {}
    sizes: dict[int, int] = {}
    incident_of: dict[int, int] = {}  # of each campaign in flight
    for campaign_id, incident_id, campaign_status, size in session.exec(
        select(Campaign.id, Campaign.incident_id, Campaign.status, Campaign.audience_size).where(
            col(Campaign.incident_id).in_(incident_ids)
        )
    ).all():
        if incident_id is None:
            continue
        statuses = by_status.setdefault(incident_id, {})
        status = CampaignStatus(campaign_status)
        statuses[status] = statuses.get(status, 0) + 1
        # A campaign paused before it started has no messages yet, and no size.
        if status in IN_FLIGHT and size:
            incident_of[campaign_id] = incident_id
            sizes[incident_id] = sizes.get(incident_id, 0) + size
    unfinished: dict[int, int] = {}
    if incident_of:
        for campaign_id, count in session.exec(
            select(Delivery.campaign_id, func.count())
            .where(
                col(Delivery.campaign_id).in_(list(incident_of)),
                col(Delivery.status).in_(UNFINISHED),
            )
            .group_by(col(Delivery.campaign_id))
        ).all():
            incident_id = incident_of[campaign_id]
            unfinished[incident_id] = unfinished.get(incident_id, 0) + count
    return {
        incident_id: NoticeProgress(
            statuses,
            sizes.get(incident_id, 0),
            sizes.get(incident_id, 0) - unfinished.get(incident_id, 0),
        )
        for incident_id, statuses in by_status.items()
    }
