"""Drill requests (安排演练): a review asks for its playbook to be drilled by a day; the
drill calendar schedules, unschedules or the review cancels the request."""

from collections.abc import Sequence
from datetime import date, datetime

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.errors import Conflict, Invalid, NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.postmortems import service
from incident_cmd.postmortems.models import (
    DrillRequest,
    DrillRequestState,
    PlanRevision,
    RevisionState,
)

DRILL_REQUESTED = "postmortem.drill_requested"
DRILL_SCHEDULED = "postmortem.drill_scheduled"
DRILL_CANCELLED = "postmortem.drill_cancelled"


def request_drill(
    session: Session,
    *,
    incident: Incident,
    playbook_key: str,
    reason: str,
    wanted_by: date,
    revision_id: int | None,
    actor: User,
    may_edit: bool,
) -> DrillRequest:
    """A drill of the playbook, or of an accepted revision of it (the revision names the
    playbook), wanted by a day in the organisation's time zone."""
    service.may_write(incident, may_edit, "request a drill")
    service.ensure_open(incident)
    service.get_review(session, incident=incident)
    if revision_id is not None:
        revision = session.get(PlanRevision, revision_id)
        if revision is None or revision.incident_id != incident.id:
            raise Invalid(
                f"{incident.number} has no playbook revision {revision_id}", field="revision"
            )
        if revision.state != RevisionState.accepted:
            raise Invalid(
                f"playbook revision {revision_id} is {revision.state}: a drill is of an "
                "accepted revision",
                field="revision",
            )
        playbook_key = revision.playbook_key
    today = clock.now().astimezone(service.organisation_zone()).date()
    if wanted_by < today:
        raise Invalid(
            f"wanted_by {wanted_by.isoformat()} is before today ({today})", field="wanted_by"
        )
    request = DrillRequest(
        incident_id=incident.id,
        playbook_key=playbook_key,
        reason=reason.strip(),
        wanted_by=wanted_by,
        revision_id=revision_id,
        requested_by=actor.id,
        requested_at=clock.now(),
    )
    session.add(request)
    session.flush()
    service.record(
        session,
        incident,
        DRILL_REQUESTED,
        f"drill {request.id} of {playbook_key} requested by {wanted_by}: {request.reason}",
        actor.id,
        {
            "request": request.id,
            "playbook": playbook_key,
            "wanted_by": wanted_by.isoformat(),
            "reason": request.reason,
            "revision": revision_id,
        },
    )
    return request


def drill_requests_of(session: Session, *, incident: Incident) -> Sequence[DrillRequest]:
    return session.exec(
        select(DrillRequest)
        .where(DrillRequest.incident_id == incident.id)
        .order_by(col(DrillRequest.id))
    ).all()


def cancel_drill_request(
    session: Session, *, incident: Incident, request_id: int, actor: User, may_edit: bool
) -> DrillRequest:
    service.may_write(incident, may_edit, "cancel a drill request")
    request = session.get(DrillRequest, request_id)
    if request is None or request.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no drill request {request_id}")
    if request.state == DrillRequestState.cancelled:
        return request
    if request.state != DrillRequestState.requested:
        raise Conflict(
            f"drill request {request_id} is {request.state}: the drill is cancelled there",
            field="state",
        )
    request.state = DrillRequestState.cancelled
    request.cancelled_by = actor.id
    request.cancelled_at = clock.now()
    session.add(request)
    service.record(
        session,
        incident,
        DRILL_CANCELLED,
        f"drill request {request.id} of {request.playbook_key} cancelled",
        actor.id,
        {"request": request.id, "playbook": request.playbook_key},
    )
    return request


def open_drill_requests(session: Session) -> Sequence[DrillRequest]:
    """Drill requests no exercise has been scheduled for yet, the most pressing first: for
    the drills to take up."""
    return session.exec(
        select(DrillRequest)
        .where(DrillRequest.state == DrillRequestState.requested)
        .order_by(col(DrillRequest.wanted_by), col(DrillRequest.id))
    ).all()


def mark_drill_request_scheduled(
    session: Session, *, request_id: int, scheduled_for: datetime, actor_id: int | None = None
) -> DrillRequest:
    """The drills scheduled an exercise for the request (or moved it); on the timeline of the
    incident whose review asked for it. A cancelled request is not scheduled."""
    request = session.exec(
        select(DrillRequest).where(DrillRequest.id == request_id).with_for_update()
    ).first()
    if request is None:
        raise NotFound(f"no drill request {request_id}")
    if request.state == DrillRequestState.cancelled:
        raise Conflict(f"drill request {request_id} was cancelled", field="state")
    if request.scheduled_for == scheduled_for:
        return request
    request.state = DrillRequestState.scheduled
    request.scheduled_for = scheduled_for
    request.scheduled_at = clock.now()
    session.add(request)
    incident = session.get_one(Incident, request.incident_id)
    service.record(
        session,
        incident,
        DRILL_SCHEDULED,
        f"drill request {request.id} of {request.playbook_key} scheduled for "
        f"{scheduled_for.isoformat()}",
        actor_id,
        {
            "request": request.id,
            "playbook": request.playbook_key,
            "at": scheduled_for.isoformat(),
        },
    )
    return request


DRILL_UNSCHEDULED = "postmortem.drill_unscheduled"


def reopen_drill_request(
    session: Session, *, request_id: int, actor_id: int | None = None
) -> DrillRequest:
    """The drill scheduled for the request was cancelled on the drill calendar: the request
    is open again, for another drill to answer it, and the incident's timeline says so."""
    request = session.exec(
        select(DrillRequest).where(DrillRequest.id == request_id).with_for_update()
    ).first()
    if request is None:
        raise NotFound(f"no drill request {request_id}")
    if request.state != DrillRequestState.scheduled:
        return request
    request.state, request.scheduled_for, request.scheduled_at = (
        DrillRequestState.requested,
        None,
        None,
    )
    session.add(request)
    service.record(
        session,
        session.get_one(Incident, request.incident_id),
        DRILL_UNSCHEDULED,
        f"the drill scheduled for drill request {request.id} of {request.playbook_key} was "
        "cancelled; the request is open again",
        actor_id,
        {"request": request.id, "playbook": request.playbook_key},
    )
    return request
