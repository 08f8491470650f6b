from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.db import table_of
from incident_cmd.errors import Invalid, NotFound
from incident_cmd.live import events as live
from incident_cmd.timeline.models import TimelineEvent, TimelineStar

STARRED = "timeline.starred"
UNSTARRED = "timeline.unstarred"
# How much of a starred entry's summary the star's own entry quotes.
QUOTED_CHARS = 80


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


@dataclass(frozen=True)
class Entry:
    """One entry for ``append_many``, as ``append`` takes it."""

    subject_type: str
    subject_id: int
    kind: str
    summary: str
    actor_id: int | None
    data: dict[str, Any] | None = None
    public: bool = False


def append_many(session: Session, *, entries: Sequence[Entry]) -> None:
    """``append`` for many entries, written in one statement in their order, for a caller
    that needs no entry back (a batch of intakes writes dozens; an ORM object each cost more
    CPU than their statement)."""
    if not entries:
        return
    now = clock.now()
    session.execute(
        table_of(TimelineEvent).insert(),
        [
            {
                "subject_type": entry.subject_type,
                "subject_id": entry.subject_id,
                "at": now,
                "actor_id": entry.actor_id,
                "kind": entry.kind,
                "summary": entry.summary,
                "public": entry.public,
                "data": entry.data or {},
            }
            for entry in entries
        ],
    )
    for entry in entries:
        live.announce_entry(
            session,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            kind=entry.kind,
            data=entry.data,
        )


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


# --- stars: entries marked for the post-incident review ---------------------------------------


def entry_of(
    session: Session, *, subject_type: str, subject_id: int, event_id: int
) -> TimelineEvent:
    """One entry of that subject's timeline (another subject's entry is not found here)."""
    event = session.get(TimelineEvent, event_id)
    if event is None or (event.subject_type, event.subject_id) != (subject_type, subject_id):
        raise NotFound(f"no timeline entry {event_id} on this {subject_type}'s timeline")
    return event


def star_of(session: Session, *, event_id: int) -> TimelineStar | None:
    return session.exec(select(TimelineStar).where(TimelineStar.event_id == event_id)).first()


def stars_among(session: Session, *, event_ids: Collection[int]) -> dict[int, TimelineStar]:
    """The stars of those entries, by entry id."""
    if not event_ids:
        return {}
    stars = session.exec(select(TimelineStar).where(col(TimelineStar.event_id).in_(event_ids)))
    return {star.event_id: star for star in stars}


def starred_events(
    session: Session, *, subject_type: str, subject_id: int
) -> Sequence[TimelineEvent]:
    """A subject's starred entries, oldest first."""
    return session.exec(
        select(TimelineEvent)
        .join(TimelineStar, col(TimelineStar.event_id) == col(TimelineEvent.id))
        .where(TimelineEvent.subject_type == subject_type, TimelineEvent.subject_id == subject_id)
        .order_by(col(TimelineEvent.id))
    ).all()


def _quoted(event: TimelineEvent) -> str:
    summary = event.summary
    if len(summary) > QUOTED_CHARS:
        summary = summary[: QUOTED_CHARS - 1] + "…"
    return f"entry {event.id} “{summary}”"


def star(session: Session, *, event: TimelineEvent, actor_id: int) -> TimelineStar:
    """Marks the entry for the review, on its subject's timeline. An entry already starred
    keeps its first star: two people starring it at once both get what they wanted."""
    if event.kind in (STARRED, UNSTARRED):
        raise Invalid("a star's own timeline entry cannot be starred", field="event_id")
    existing = star_of(session, event_id=event.id)
    if existing is not None:
        return existing
    marked = TimelineStar(event_id=event.id, starred_by=actor_id, starred_at=clock.now())
    try:
        with session.begin_nested():
            session.add(marked)
    except IntegrityError:
        # Starred by someone else between the look and the insert; theirs stands.
        return session.exec(select(TimelineStar).where(TimelineStar.event_id == event.id)).one()
    append(
        session,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        kind=STARRED,
        summary=f"{_quoted(event)} starred for the review",
        actor_id=actor_id,
        data={"event_id": event.id},
    )
    return marked


def unstar(session: Session, *, event: TimelineEvent, actor_id: int) -> bool:
    """Takes the entry's star back (whoever gave it), on its subject's timeline; False when
    it had none."""
    existing = star_of(session, event_id=event.id)
    if existing is None:
        return False
    session.delete(existing)
    append(
        session,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        kind=UNSTARRED,
        summary=f"{_quoted(event)} no longer starred for the review",
        actor_id=actor_id,
        data={"event_id": event.id, "starred_by": existing.starred_by},
    )
    return True
