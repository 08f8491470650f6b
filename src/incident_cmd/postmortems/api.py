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
from incident_cmd.postmortems import flows
from incident_cmd.postmortems.models import Section
from incident_cmd.postmortems.schemas import (
    ApprovalNote,
    FollowUpCreate,
    FollowUpDone,
    FollowUpRead,
    ReviewRead,
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
