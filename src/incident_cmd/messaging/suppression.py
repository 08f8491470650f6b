"""Addresses that must receive nothing more on a channel, in any campaign or lane, and the
signed links that let an email recipient add their own. An email unsubscribe still lets a
recall's safety notice through; an SMS STOP, or the provider's own opt-out, stops everything."""

from collections.abc import Iterable
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement, SQLColumnExpression, case, delete, exists, or_, select, tuple_
from sqlmodel import Session, col

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.db import table_of, upsert_insert
from incident_cmd.errors import Forbidden
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import NoticeClass, Suppression

SUPPRESSIONS = table_of(Suppression)


def covering_suppression(
    channel: SQLColumnExpression[Any],
    address: SQLColumnExpression[Any],
    notice_class: SQLColumnExpression[Any],
) -> ColumnElement[bool]:
    """Whether a suppression stops this message: every one does, except that an email
    unsubscribe lets a safety notice through. The arguments are the message's columns, or
    literals."""
    columns = SUPPRESSIONS.c
    return exists().where(
        columns.channel == channel,
        columns.address == address,
        or_(~columns.spares_safety, notice_class != NoticeClass.safety.value),
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
    statement = upsert_insert(session, SUPPRESSIONS).values(
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
                "spares_safety": SUPPRESSIONS.c.spares_safety & statement.excluded.spares_safety,
                "reason": case(
                    (statement.excluded.spares_safety, SUPPRESSIONS.c.reason),
                    else_=statement.excluded.reason,
                ),
            },
        )
    )


def unsuppress(session: Session, *, channel: ChannelName, address: str) -> bool:
    removed = session.exec(
        delete(Suppression).where(
            col(Suppression.channel) == channel, col(Suppression.address) == address
        )
    )
    return bool(removed.rowcount)


def is_suppressed(session: Session, *, channel: ChannelName, address: str) -> bool:
    return session.get(Suppression, (channel, address)) is not None


def suppressed_among(
    session: Session, *, addresses: Iterable[tuple[ChannelName, str]]
) -> set[tuple[ChannelName, str]]:
    """Which of these (channel, address) pairs are suppressed, in one statement."""
    wanted = set(addresses)
    if not wanted:
        return set()
    columns = SUPPRESSIONS.c
    found = session.execute(
        select(columns.channel, columns.address).where(
            tuple_(columns.channel, columns.address).in_(wanted)
        )
    )
    return {(ChannelName(channel), address) for channel, address in found}


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
