"""Subscriptions of the public to statements: asked for on the status pages, confirmed from
the address itself (double opt-in: a signed link that expires), ended by a signed one-click
link or, for SMS, by STOP (which suppresses the number everywhere, as it always has).

Nothing here tells the asker more than "check your inbox or phone": an address that is
suppressed, already subscribed or asked for too often gets nothing, and the answer is the
same. Requests are limited per client network address (an answer says so) and per address
asked for (silently: no bombing a stranger's phone). Every message goes through the direct
lane, rendered from ``templates/messages`` in the subscriber's language, and none to a
suppressed address."""

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, literal, or_
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.errors import DomainError, Forbidden
from incident_cmd.incidents.models import SUBJECT as INCIDENT
from incident_cmd.incidents.models import Incident
from incident_cmd.messaging import direct, suppression
from incident_cmd.messaging.models import DirectMessage, NoticeClass
from incident_cmd.messaging.templates import templates_for
from incident_cmd.public_links import status_url
from incident_cmd.statements.models import Statement
from incident_cmd.subscriptions.models import (
    Subscription,
    SubscriptionRequest,
    SubscriptionStatus,
)
from incident_cmd.subscriptions.schemas import SubscriptionAsk
from incident_cmd.timeline import service as timeline

SUBJECT = "subscription"
SOURCE = "subscription"
CONFIRM_WITHIN = timedelta(hours=48)
# (requests, window): a client network address may ask this often, whatever it asks for...
CLIENT_LIMITS = ((10, timedelta(hours=1)), (30, timedelta(days=1)))
# ...and one email address or phone number is sent a confirmation request this often.
ADDRESS_LIMITS = ((3, timedelta(hours=1)), (5, timedelta(days=1)))
KEPT_FOR = max(window for _, window in CLIENT_LIMITS + ADDRESS_LIMITS)


class TooManyRequests(DomainError):
    status_code = 429


class LinkExpired(DomainError):
    status_code = 410


@dataclass(frozen=True)
class Topic:
    """What a subscription is for: an incident, named by its number, or a product line."""

    key: str
    label: str
    incident_id: int | None = None
    product: str | None = None


def _digest(kind: str, value: str) -> str:
    key = get_settings().signing_key.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def public_incident(session: Session, *, number: str) -> Incident | None:
    """An incident the public may subscribe to: any but a drill."""
    return session.exec(
        select(Incident).where(Incident.number == number, col(Incident.drill).is_(False))
    ).first()


def topic_of(session: Session, data: SubscriptionAsk) -> Topic | None:
    """None for an incident number that does not exist or names a drill."""
    if data.product is not None:
        product = data.product.upper()
        return Topic(key=f"product:{product}", label=product, product=product)
    incident = public_incident(session, number=data.incident or "")
    if incident is None:
        return None
    return Topic(key=f"incident:{incident.id}", label=incident.number, incident_id=incident.id)


def topic_label(session: Session, subscription: Subscription) -> str:
    if subscription.product is not None:
        return subscription.product
    incident = session.get(Incident, subscription.incident_id)
    return incident.number if incident else ""


def _count_since(session: Session, column, digest: str, now: datetime, window: timedelta) -> int:
    return session.exec(
        select(func.count())
        .select_from(SubscriptionRequest)
        .where(column == digest, col(SubscriptionRequest.requested_at) > now - window)
    ).one()


def _over(session: Session, column, digest: str, limits, now: datetime) -> timedelta | None:
    """The first window whose limit the digest has reached, if any."""
    for limit, window in limits:
        if _count_since(session, column, digest, now, window) >= limit:
            return window
    return None


def _admit(session: Session, *, client: str, address: str) -> bool:
    """Raises TooManyRequests when the client has asked too often; False (and nothing to
    tell) when the address has been sent enough confirmation requests. Records the request."""
    now = clock.now()
    client_digest = _digest("client", client)
    if _over(session, col(SubscriptionRequest.client_digest), client_digest, CLIENT_LIMITS, now):
        raise TooManyRequests("too many subscription requests from your network; try later")
    address_digest = _digest("address", address)
    allowed = (
        _over(session, col(SubscriptionRequest.address_digest), address_digest, ADDRESS_LIMITS, now)
        is None
    )
    session.exec(
        delete(SubscriptionRequest).where(col(SubscriptionRequest.requested_at) < now - KEPT_FOR)
    )
    session.add(
        SubscriptionRequest(
            client_digest=client_digest, address_digest=address_digest, requested_at=now
        )
    )
    return allowed


def _record(session: Session, subscription: Subscription, kind: str, summary: str) -> None:
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=subscription.id,
        kind=kind,
        summary=summary,
        actor_id=None,
        data={"channel": subscription.channel.value, "topic": subscription.topic},
    )


# --- signed links ---------------------------------------------------------------------------


def _confirm_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().signing_key, salt="subscription-confirm")


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().signing_key, salt="subscription-unsubscribe")


def confirm_token(subscription: Subscription) -> str:
    expires = clock.now() + CONFIRM_WITHIN
    return _confirm_serializer().dumps({"s": subscription.id, "e": int(expires.timestamp())})


def unsubscribe_token(subscription: Subscription) -> str:
    return _unsubscribe_serializer().dumps({"s": subscription.id})


def _base() -> str:
    return get_settings().public_base_url.rstrip("/")


def confirm_url(subscription: Subscription) -> str:
    return f"{_base()}/status/subscriptions/confirm/{confirm_token(subscription)}"


def unsubscribe_url(subscription: Subscription) -> str:
    return f"{_base()}/unsubscribe/subscriptions/{unsubscribe_token(subscription)}"


def _loaded(serializer: URLSafeSerializer, token: str) -> dict:
    try:
        payload = serializer.loads(token)
    except BadSignature:
        raise Forbidden("this link is not valid", field="token") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int):
        raise Forbidden("this link is not valid", field="token")
    return payload


def _subscription_of(session: Session, payload: dict) -> Subscription:
    subscription = session.get(Subscription, payload["s"])
    if subscription is None:
        raise Forbidden("this link is not valid", field="token")
    return subscription


def by_confirm_token(session: Session, *, token: str) -> Subscription:
    """The subscription the link confirms; refuses a forged link, and an expired one."""
    payload = _loaded(_confirm_serializer(), token)
    expires = payload.get("e")
    if not isinstance(expires, int) or clock.now().timestamp() > expires:
        raise LinkExpired("this confirmation link has expired: subscribe again", field="token")
    return _subscription_of(session, payload)


def by_unsubscribe_token(session: Session, *, token: str) -> Subscription:
    return _subscription_of(session, _loaded(_unsubscribe_serializer(), token))


# --- steps ----------------------------------------------------------------------------------


def ask(
    session: Session, *, data: SubscriptionAsk, topic: Topic, client: str
) -> Subscription | None:
    """Sends a confirmation request to the address unless it is suppressed, already
    confirmed for the topic or asked too often; the subscription it concerns, if any. The
    caller says the same whatever happened."""
    if not _admit(session, client=client, address=data.address):
        return None
    channel = data.channel
    subscription = session.exec(
        select(Subscription).where(
            Subscription.channel == channel,
            Subscription.address == data.address,
            Subscription.topic == topic.key,
        )
    ).first()
    if subscription is not None and subscription.status == SubscriptionStatus.confirmed:
        return subscription
    now = clock.now()
    if subscription is None:
        subscription = Subscription(
            channel=channel,
            address=data.address,
            locale=data.locale,
            topic=topic.key,
            incident_id=topic.incident_id,
            product=topic.product,
            status=SubscriptionStatus.pending,
            requested_at=now,
        )
    subscription.status, subscription.locale = SubscriptionStatus.pending, data.locale
    subscription.requested_at, subscription.unsubscribed_at = now, None
    session.add(subscription)
    session.flush()
    _record(session, subscription, "subscription.requested", "subscription asked for")
    if suppression.is_suppressed(session, channel=channel, address=data.address):
        return subscription
    settings = get_settings()
    context = {
        "organisation": settings.organisation_name,
        "topic": topic.label,
        "confirm_url": confirm_url(subscription),
        "expires_hours": int(CONFIRM_WITHIN.total_seconds() // 3600),
    }
    rendered = templates_for(settings.template_dir).render(
        "subscription_confirm", channel, data.locale, context
    )
    direct.enqueue(
        session,
        # Each request is a message of its own: a second one is asked for, not a retry.
        key=f"subscription-{subscription.id}-confirm-{secrets.token_hex(8)}",
        source=SOURCE,
        source_id=subscription.id,
        subject=(SUBJECT, subscription.id),
        label="subscription confirmation request",
        channel=channel,
        address=data.address,
        locale=data.locale,
        rendered=rendered,
    )
    return subscription


def confirm(session: Session, *, subscription: Subscription) -> Subscription:
    """Idempotent; a subscription ended since the link was sent stays ended."""
    if subscription.status == SubscriptionStatus.unsubscribed:
        raise LinkExpired(
            "this subscription was ended after the link was sent: subscribe again",
            field="token",
        )
    if subscription.status == SubscriptionStatus.pending:
        subscription.status, subscription.confirmed_at = SubscriptionStatus.confirmed, clock.now()
        session.add(subscription)
        _record(session, subscription, "subscription.confirmed", "subscription confirmed")
    return subscription


def unsubscribe(session: Session, *, subscription: Subscription) -> Subscription:
    """Idempotent: a second click changes nothing and says the same."""
    if subscription.status != SubscriptionStatus.unsubscribed:
        subscription.status, subscription.unsubscribed_at = (
            SubscriptionStatus.unsubscribed,
            clock.now(),
        )
        session.add(subscription)
        _record(session, subscription, "subscription.ended", "unsubscribed by the link")
    return subscription


# --- statements to subscribers --------------------------------------------------------------


def _recipients(session: Session, incident: Incident) -> Sequence[Subscription]:
    """The confirmed subscribers of the incident and of its products, one per address (the
    incident's own subscription first), none whose address is suppressed."""
    products = [str(item).upper() for item in (incident.scope or {}).get("products") or ()]
    topics = [col(Subscription.incident_id) == incident.id]
    if products:
        topics.append(col(Subscription.product).in_(products))
    suppressed = suppression.covering_suppression(
        col(Subscription.channel), col(Subscription.address), literal(NoticeClass.update.value)
    )
    rows = session.exec(
        select(Subscription)
        .where(
            Subscription.status == SubscriptionStatus.confirmed,
            or_(*topics),
            ~suppressed,
        )
        .order_by(col(Subscription.incident_id).is_(None), col(Subscription.id))
    ).all()
    unique: dict[tuple[str, str], Subscription] = {}
    for row in rows:
        unique.setdefault((row.channel, row.address), row)
    return list(unique.values())


def _statement_key(statement: Statement, subscription: Subscription) -> str:
    return f"statement-{statement.id}-subscription-{subscription.id}"


def send_statement(session: Session, *, incident: Incident, statement: Statement) -> int:
    """Queues the published statement for every confirmed subscriber of the incident and its
    products, in their language: the full text by email, a short SMS with the status page's
    link. Once per subscriber and statement, however often it is called; never for a drill.
    How many were queued."""
    if incident.drill or statement.drill or statement.version is None:
        return 0
    recipients = _recipients(session, incident)
    keys = {_statement_key(statement, item): item for item in recipients}
    queued_before = set(
        session.exec(select(DirectMessage.key).where(col(DirectMessage.key).in_(list(keys))))
    )
    settings = get_settings()
    templates = templates_for(settings.template_dir)
    queued = 0
    for key, subscription in keys.items():
        if key in queued_before:
            continue
        locale = subscription.locale.value
        leave = unsubscribe_url(subscription)
        context = {
            "organisation": settings.organisation_name,
            "topic": topic_label(session, subscription),
            "title": statement.title.get(locale, ""),
            "text": statement.text.get(locale, ""),
            "advice": statement.advice.get(locale, ""),
            "version": statement.version,
            "status_url": status_url(incident.number),
            "unsubscribe_url": leave,
        }
        direct.enqueue(
            session,
            key=key,
            source=SOURCE,
            source_id=subscription.id,
            subject=(SUBJECT, subscription.id),
            label=f"statement {incident.number} update {statement.version} to a subscriber",
            channel=subscription.channel,
            address=subscription.address,
            locale=subscription.locale,
            rendered=templates.render("statement_update", subscription.channel, locale, context),
            unsubscribe_url=leave,
        )
        queued += 1
    if queued:
        timeline.append(
            session,
            subject_type=INCIDENT,
            subject_id=incident.id,
            kind="statement.sent_to_subscribers",
            summary=f"statement version {statement.version} queued for {queued} subscribers",
            actor_id=None,
            data={"statement_id": statement.id, "version": statement.version, "count": queued},
        )
    return queued
