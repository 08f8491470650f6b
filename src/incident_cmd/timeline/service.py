from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.live import events as live
from incident_cmd.timeline.models import TimelineEvent


def append(
    session: Session,
    *,
    subject_type: str,
    subject_id: int,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict[str, Any] | None = None,
    public: bool = False,
) -> TimelineEvent:
    event = TimelineEvent(
        subject_type=subject_type,
        subject_id=subject_id,
        at=clock.now(),
        actor_id=actor_id,
        kind=kind,
        summary=summary,
        public=public,
        data=data or {},
    )
    session.add(event)
    live.announce_entry(
        session, subject_type=subject_type, subject_id=subject_id, kind=kind, data=data
    )
    return event


def events_for(
    session: Session, *, subject_type: str, subject_id: int, public_only: bool = False
) -> Sequence[TimelineEvent]:
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.subject_type == subject_type, TimelineEvent.subject_id == subject_id)
        .order_by(col(TimelineEvent.id))
    )
    if public_only:
        query = query.where(TimelineEvent.public)
    return session.exec(query).all()
