"""Closing pages when a seat is handed over, and standing the roster down."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.incidents.models import Incident, RosterAssignment
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.paging.models import ANSWERABLE, Page, PageStatus
from incident_cmd.paging.pages import (
    close_page,
    enqueue,
    incident_playbook,
    record,
    role_title,
)


def cancel_for_seat(session: Session, *, seat: RosterAssignment, reason: str) -> int:
    pages = session.exec(
        select(Page).where(Page.assignment_id == seat.id, col(Page.status).in_(ANSWERABLE))
    ).all()
    for page in pages:
        close_page(session, page=page, status=PageStatus.cancelled)
        record(
            session,
            incident_id=page.incident_id,
            kind="page.cancelled",
            summary=f"page for role {page.role_key} cancelled: {reason}",
            data={"page": page.id, "role": page.role_key, "reason": reason},
        )
    return len(pages)


def stand_down(
    session: Session,
    *,
    incident: Incident,
    seats: Sequence[RosterAssignment],
    message: str,
    actor: User,
) -> int:
    """Closes every open page and tells each person on the roster (``seats``) they are stood
    down."""
    for seat in seats:
        cancel_for_seat(session, seat=seat, reason="incident stood down")
    told = 0
    playbook = incident_playbook(session, incident)
    for seat in seats:
        if seat.user_id is None:
            continue
        user = session.get_one(User, seat.user_id)
        channel = ChannelName.sms if user.phone else ChannelName.email
        values = {
            "organisation": get_settings().organisation_name,
            "drill": incident.drill,
            "number": incident.number,
            "title": incident.title,
            "role": role_title(playbook.role(seat.role_key), seat.role_key, user.locale),
            "message": message,
        }
        queued = enqueue(
            session,
            key=f"stand-down-{seat.id}",
            user=user,
            channel=channel,
            template="stand_down",
            values=values,
            incident=incident,
            label=f"stand-down for role {seat.role_key} to {user.username}",
            target_id=None,
        )
        told += queued is not None
    record(
        session,
        incident_id=incident.id,
        kind="roster.stood_down",
        summary=f"roster stood down ({told} told): {message}"
        if message
        else f"roster stood down ({told} told)",
        data={"message": message, "told": told},
        actor_id=actor.id,
    )
    return told
