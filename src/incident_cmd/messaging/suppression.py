"""Addresses that must receive nothing more on a channel, in any campaign or lane, and the
signed links that let an email recipient add their own. An email unsubscribe still lets a
recall's safety notice through; an SMS STOP, or the provider's own opt-out, stops everything."""

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement, case, delete, exists, or_
from sqlmodel import Session, col

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.db import upsert_insert
from incident_cmd.errors import Forbidden
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import NoticeClass, Suppression


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


def suppress(
    session: Session,
    *,
    channel: ChannelName,
    address: str,
    reason: str,
    spares_safety: bool = False,
) -> None:
    """Suppresses the address everywhere (but safety notices, if ``spares_safety``). A
    suppression only ever widens: a later unsubscribe never lets through what a STOP stopped."""
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


def unsuppress(session: Session, *, channel: ChannelName, address: str) -> bool:
    removed = session.execute(
        delete(Suppression).where(
            col(Suppression.channel) == channel, col(Suppression.address) == address
        )
    )
    return bool(removed.rowcount)


def is_suppressed(session: Session, *, channel: ChannelName, address: str) -> bool:
    return session.get(Suppression, (channel, address)) is not None


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
