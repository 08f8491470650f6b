"""The post-incident review of an incident (/api/v1/incidents/{id}/review). Everyone reads it;
the routes admit the roles that may sit on a roster, and the flows decide by the incident's
roster: its members and duty managers write it, the commander or a duty manager approves it.
Closing the incident (POST /status) is refused until the checklist is done and the review
approved."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from incident_cmd.auth.models import Role, User
from incident_cmd.deps import AnyUser, SessionDep, allow
from incident_cmd.errors import error_responses
from incident_cmd.fields import DbId
from incident_cmd.playbooks.api import RegistryDep
from incident_cmd.postmortems import flows
from incident_cmd.postmortems.models import Section
from incident_cmd.postmortems.schemas import (
    ApprovalNote,
    DrillRequestCreate,
    DrillRequestRead,
    FollowUpCreate,
    FollowUpDone,
    FollowUpRead,
    MeetingRead,
    MeetingSet,
    PlanRevisionCreate,
    PlanRevisionRead,
    ReviewRead,
    RevisionDecision,
    SectionEdit,
)

router = APIRouter(prefix="/api/v1/incidents/{incident_id}/review", tags=["reviews"])

SeatHolder = Annotated[
    User, Depends(allow(Role.duty_manager, Role.responder, Role.comms, Role.agent))
]


@router.get("", response_model=ReviewRead, responses=error_responses(404))
def get_review(incident_id: DbId, session: SessionDep, user: AnyUser) -> ReviewRead:
    return flows.review_read(session, incident_id=incident_id, locale=user.locale)


@router.put("/sections/{section}", response_model=ReviewRead, responses=error_responses(404, 409))
def edit_section(
    incident_id: DbId, section: Section, body: SectionEdit, session: SessionDep, actor: SeatHolder
) -> ReviewRead:
    flows.edit_section(
        session, incident_id=incident_id, section=section, text=body.text, actor=actor
    )
    return flows.review_read(session, incident_id=incident_id, locale=actor.locale)


@router.post("/approve", response_model=ReviewRead, responses=error_responses(404, 409))
def approve(
    incident_id: DbId, body: ApprovalNote, session: SessionDep, actor: SeatHolder
) -> ReviewRead:
    flows.approve(session, incident_id=incident_id, note=body.note, actor=actor)
    return flows.review_read(session, incident_id=incident_id, locale=actor.locale)


@router.post(
    "/followups",
    response_model=FollowUpRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def add_followup(
    incident_id: DbId, body: FollowUpCreate, session: SessionDep, actor: SeatHolder
) -> FollowUpRead:
    followup = flows.add_followup(session, incident_id=incident_id, data=body, actor=actor)
    read = flows.review_read(session, incident_id=incident_id, locale=actor.locale)
    return next(item for item in read.followups if item.id == followup.id)


@router.post(
    "/followups/{followup_id}/done",
    response_model=FollowUpRead,
    responses=error_responses(404, 409),
)
def complete_followup(
    incident_id: DbId,
    followup_id: DbId,
    body: FollowUpDone,
    session: SessionDep,
    actor: SeatHolder,
) -> FollowUpRead:
    flows.complete_followup(
        session, incident_id=incident_id, followup_id=followup_id, note=body.note, actor=actor
    )
    read = flows.review_read(session, incident_id=incident_id, locale=actor.locale)
    return next(item for item in read.followups if item.id == followup_id)


@router.put("/meeting", response_model=MeetingRead, responses=error_responses(404, 409))
def set_meeting(
    incident_id: DbId, body: MeetingSet, session: SessionDep, actor: SeatHolder
) -> MeetingRead:
    """Sets or moves the review meeting (复盘会) within the playbook's window; the roster is
    invited by SMS and email."""
    flows.set_meeting(session, incident_id=incident_id, meeting_at=body.meeting_at, actor=actor)
    return flows.review_read(session, incident_id=incident_id, locale=actor.locale).meeting


@router.post(
    "/revisions",
    response_model=PlanRevisionRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def propose_revision(
    incident_id: DbId,
    body: PlanRevisionCreate,
    session: SessionDep,
    registry: RegistryDep,
    actor: SeatHolder,
) -> PlanRevisionRead:
    """A finding's proposed playbook file, checked as the loader checks it; answered with its
    diff against the file as it is now, for a person to apply in git."""
    revision = flows.propose_revision(
        session, incident_id=incident_id, data=body, registry=registry, actor=actor
    )
    read = flows.review_read(session, incident_id=incident_id, locale=actor.locale)
    return next(item for item in read.revisions if item.id == revision.id)


def _decide(
    incident_id: int, revision_id: int, accept: bool, note: str, session, actor: User
) -> PlanRevisionRead:
    flows.decide_revision(
        session,
        incident_id=incident_id,
        revision_id=revision_id,
        accept=accept,
        note=note,
        actor=actor,
    )
    read = flows.review_read(session, incident_id=incident_id, locale=actor.locale)
    return next(item for item in read.revisions if item.id == revision_id)


@router.post(
    "/revisions/{revision_id}/accept",
    response_model=PlanRevisionRead,
    responses=error_responses(404, 409),
)
def accept_revision(
    incident_id: DbId,
    revision_id: DbId,
    body: RevisionDecision,
    session: SessionDep,
    actor: SeatHolder,
) -> PlanRevisionRead:
    return _decide(incident_id, revision_id, True, body.note, session, actor)


@router.post(
    "/revisions/{revision_id}/reject",
    response_model=PlanRevisionRead,
    responses=error_responses(404, 409),
)
def reject_revision(
    incident_id: DbId,
    revision_id: DbId,
    body: RevisionDecision,
    session: SessionDep,
    actor: SeatHolder,
) -> PlanRevisionRead:
    return _decide(incident_id, revision_id, False, body.note, session, actor)


@router.post(
    "/drill-requests",
    response_model=DrillRequestRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def request_drill(
    incident_id: DbId,
    body: DrillRequestCreate,
    session: SessionDep,
    registry: RegistryDep,
    actor: SeatHolder,
) -> DrillRequestRead:
    request = flows.request_drill(
        session, incident_id=incident_id, data=body, registry=registry, actor=actor
    )
    read = flows.review_read(session, incident_id=incident_id, locale=actor.locale)
    return next(item for item in read.drill_requests if item.id == request.id)


@router.post(
    "/drill-requests/{request_id}/cancel",
    response_model=DrillRequestRead,
    responses=error_responses(404, 409),
)
def cancel_drill_request(
    incident_id: DbId, request_id: DbId, session: SessionDep, actor: SeatHolder
) -> DrillRequestRead:
    flows.cancel_drill_request(session, incident_id=incident_id, request_id=request_id, actor=actor)
    read = flows.review_read(session, incident_id=incident_id, locale=actor.locale)
    return next(item for item in read.drill_requests if item.id == request_id)
