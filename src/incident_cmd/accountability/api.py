"""Accountability on an incident under review (/api/v1/incidents/{id}/accountability):
responsibility findings, their approval by the authority the amount routes them to, the
decision letters (考核决定书) and staff appeals. Every signed-in person reads the list, in as
much detail as flows.py allows them; viewers change nothing."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from incident_cmd.accountability import flows
from incident_cmd.accountability.schemas import (
    AccountabilityRead,
    AppealCreate,
    AppealDecision,
    AppealRead,
    Decision,
    FindingCreate,
    FindingRead,
)
from incident_cmd.accountability.service import letter_text
from incident_cmd.auth.models import Role, User
from incident_cmd.deps import AnyUser, SessionDep, allow
from incident_cmd.errors import error_responses
from incident_cmd.fields import DbId
from incident_cmd.i18n import Locale

router = APIRouter(prefix="/api/v1/incidents/{incident_id}/accountability", tags=["accountability"])

Staff = Annotated[User, Depends(allow(Role.duty_manager, Role.responder, Role.comms, Role.agent))]


def _read(session: SessionDep, incident_id: int, user: User) -> AccountabilityRead:
    return flows.accountability_read(
        session, incident_id=incident_id, actor=user, locale=user.locale
    )


def _finding(session: SessionDep, incident_id: int, finding_id: int, user: User) -> FindingRead:
    read = _read(session, incident_id, user)
    return next(item for item in read.findings if item.id == finding_id)


@router.get("", response_model=AccountabilityRead, responses=error_responses(404))
def get_accountability(incident_id: DbId, session: SessionDep, user: AnyUser) -> AccountabilityRead:
    return _read(session, incident_id, user)


@router.post(
    "/findings",
    response_model=FindingRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def propose(
    incident_id: DbId, body: FindingCreate, session: SessionDep, actor: Staff
) -> FindingRead:
    finding = flows.propose(session, incident_id=incident_id, data=body, actor=actor)
    return _finding(session, incident_id, finding.id, actor)


@router.post(
    "/findings/{finding_id}/approve",
    response_model=FindingRead,
    responses=error_responses(404, 409),
)
def approve(
    incident_id: DbId, finding_id: DbId, body: Decision, session: SessionDep, actor: Staff
) -> FindingRead:
    """Approved by the authority of the finding's route; a major case is the general
    manager's ruling. Issues a decision letter to each person concerned."""
    flows.approve(
        session, incident_id=incident_id, finding_id=finding_id, note=body.note, actor=actor
    )
    return _finding(session, incident_id, finding_id, actor)


@router.post(
    "/findings/{finding_id}/reject",
    response_model=FindingRead,
    responses=error_responses(404, 409),
)
def reject(
    incident_id: DbId, finding_id: DbId, body: Decision, session: SessionDep, actor: Staff
) -> FindingRead:
    flows.reject(
        session, incident_id=incident_id, finding_id=finding_id, note=body.note, actor=actor
    )
    return _finding(session, incident_id, finding_id, actor)


@router.get(
    "/findings/{finding_id}/letters/{letter_id}",
    responses={
        200: {
            "description": "The letter as issued, Markdown, to download",
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        },
        **error_responses(404),
    },
)
def letter_markdown(
    incident_id: DbId,
    finding_id: DbId,
    letter_id: DbId,
    session: SessionDep,
    user: Staff,
    locale: Annotated[Locale | None, Query(description="default: the reader's")] = None,
) -> Response:
    letter = flows.letter(
        session, incident_id=incident_id, finding_id=finding_id, letter_id=letter_id, actor=user
    )
    return Response(
        letter_text(letter, locale or user.locale),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{letter.number}.md"'},
    )


@router.post(
    "/findings/{finding_id}/letters/{letter_id}/appeal",
    response_model=AppealRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def appeal(
    incident_id: DbId,
    finding_id: DbId,
    letter_id: DbId,
    body: AppealCreate,
    session: SessionDep,
    actor: Staff,
) -> AppealRead:
    flows.file_appeal(
        session,
        incident_id=incident_id,
        finding_id=finding_id,
        letter_id=letter_id,
        reason=body.reason,
        actor=actor,
    )
    finding = _finding(session, incident_id, finding_id, actor)
    return finding.appeals[-1]


@router.post(
    "/findings/{finding_id}/appeals/{appeal_id}/decide",
    response_model=AppealRead,
    responses=error_responses(404, 409),
)
def decide_appeal(
    incident_id: DbId,
    finding_id: DbId,
    appeal_id: DbId,
    body: AppealDecision,
    session: SessionDep,
    actor: Staff,
) -> AppealRead:
    flows.decide_appeal(
        session,
        incident_id=incident_id,
        finding_id=finding_id,
        appeal_id=appeal_id,
        data=body,
        actor=actor,
    )
    finding = _finding(session, incident_id, finding_id, actor)
    return next(item for item in finding.appeals if item.id == appeal_id)
