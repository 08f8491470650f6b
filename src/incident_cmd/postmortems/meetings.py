"""The review meeting (复盘会): set within the playbook's working days of the resolution,
its attendees invited and reminded, a missed one put on the timeline."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.db import skip_locked
from incident_cmd.errors import Forbidden, Invalid
from incident_cmd.incidents.models import Incident
from incident_cmd.postmortems import service
from incident_cmd.postmortems.models import Review

MEETING_SET = "postmortem.meeting_set"
MEETING_REMINDED = "postmortem.meeting_reminded"
MEETING_MISSED = "postmortem.meeting_missed"
# Invitations and reminders go through the direct lane under this source.
MEETING_SOURCE = "review-meeting"
# The attendees are reminded this long before the meeting; a meeting set closer than that
# has only its invitation.
MEETING_REMINDER_LEAD = timedelta(hours=1)


def set_meeting(
    session: Session,
    *,
    incident: Incident,
    at: datetime,
    attendees: Sequence[str],
    actor: User,
    may_set: bool,
) -> tuple[Review, bool]:
    """Sets (or moves) the meeting, inside its window while the window is open; once the
    window has passed unmet, at any later time (it is late, and says so). True with the
    review when the time changed, so the attendees are to be invited."""
    if not may_set:
        raise Forbidden(
            f"only the commander of {incident.number} or a duty manager sets its review meeting"
        )
    service.ensure_open(incident)
    review = service.get_review(session, incident=incident)
    now = clock.now()
    zone = service.organisation_zone()
    if at.tzinfo is None:
        raise Invalid("meeting_at needs a time zone offset", field="meeting_at")
    if at <= now:
        raise Invalid(
            f"meeting_at {service.local_text(at, zone)} is not in the future", field="meeting_at"
        )
    window = review.meeting_by
    late = window is not None and now >= window
    if window is not None and not late and at >= window:
        last_day = (window - timedelta(days=1)).astimezone(zone).date()
        raise Invalid(
            f"meeting_at {service.local_text(at, zone)} is outside the review meeting window: the "
            f"meeting is held by the end of {last_day.isoformat()} ({zone.key})",
            field="meeting_at",
        )
    if review.meeting_at == at:
        return review, False
    moved = review.meeting_at is not None
    review.meeting_at = at
    review.meeting_set_by = actor.id
    review.meeting_sets += 1
    remind_at = at - MEETING_REMINDER_LEAD
    review.meeting_sweep_at = remind_at if remind_at > now else None
    session.add(review)
    service.record(
        session,
        incident,
        MEETING_SET,
        f"review meeting {'moved to' if moved else 'set for'} {at.isoformat()}"
        + (" (after its window)" if late else "")
        + f", attendees: {', '.join(attendees) or 'none'}",
        actor.id,
        {"at": at.isoformat(), "moved": moved, "late": late, "attendees": list(attendees)},
    )
    return review, True


def due_meetings(session: Session, *, limit: int = 100) -> Sequence[Review]:
    """Reviews the meeting sweep has work on now, claimed: on PostgreSQL another worker
    skips them until this transaction ends."""
    query = (
        select(Review)
        .where(col(Review.meeting_sweep_at) <= clock.now())
        .order_by(col(Review.meeting_sweep_at))
        .limit(limit)
    )
    return session.exec(skip_locked(session, query)).all()


def meeting_swept(
    session: Session, *, incident: Incident, review: Review, told: Sequence[str] | None
) -> None:
    """The sweep's step on the meeting is done: the reminder before it, or, with no meeting
    set when the window ended, the duty managers told; ``told`` None when the incident was
    closed first and no one was."""
    review.meeting_sweep_at = None
    session.add(review)
    if told is None:
        return
    if review.meeting_at is None:
        service.record(
            session,
            incident,
            MEETING_MISSED,
            f"review meeting not set within its window (ended {review.meeting_by}); "
            f"told {', '.join(told) or 'nobody'}",
            None,
            {"told": list(told)},
        )
    else:
        service.record(
            session,
            incident,
            MEETING_REMINDED,
            f"review meeting at {review.meeting_at.isoformat()}: attendees reminded "
            f"({', '.join(told) or 'nobody'})",
            None,
            {"at": review.meeting_at.isoformat(), "told": list(told)},
        )
