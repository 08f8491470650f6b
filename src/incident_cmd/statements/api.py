"""Public statements of an incident: drafted by the spokesperson, approved by the commander or
a duty manager (never the drafter), published as numbered versions, corrected by new
versions. The route admits the roles that may take part at all; the flows decide by the
incident's roster."""

from fastapi import APIRouter, status
from sqlmodel import Session

from incident_cmd.auth import service as auth_service
from incident_cmd.deps import AnyUser, Responder, SessionDep
from incident_cmd.errors import error_responses
from incident_cmd.fields import DbId
from incident_cmd.statements import flows
from incident_cmd.statements.models import Statement
from incident_cmd.statements.schemas import StatementCorrection, StatementDraft, StatementRead

router = APIRouter(prefix="/api/v1/incidents/{incident_id}/statements", tags=["statements"])


def statement_reads(session: Session, statements: list[Statement]) -> list[StatementRead]:
    names = auth_service.usernames(
        session,
        ids={
            person
            for item in statements
            for person in (item.drafted_by, item.approved_by, item.published_by)
        },
    )
    return [
        StatementRead(
            id=item.id,
            incident_id=item.incident_id,
            stage=item.stage,
            status=item.status,
            version=item.version,
            title=item.title,
            text=item.text,
            advice=item.advice,
            template=item.template_key,
            corrects=item.corrects_id,
            drafted_by=names[item.drafted_by],
            drafted_at=item.drafted_at,
            approved_by=names.of(item.approved_by),
            approved_at=item.approved_at,
            published_by=names.of(item.published_by),
            published_at=item.published_at,
        )
        for item in statements
    ]


@router.get("", response_model=list[StatementRead], responses=error_responses(404))
def list_statements(incident_id: DbId, session: SessionDep, _: AnyUser) -> list[StatementRead]:
    """Every statement of the incident, newest first: drafts, approved and published."""
    _incident, statements = flows.statements(session, incident_id=incident_id)
    return statement_reads(session, list(statements))


@router.post(
    "",
    response_model=StatementRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404),
)
def draft_statement(
    incident_id: DbId, body: StatementDraft, session: SessionDep, actor: Responder
) -> StatementRead:
    statement = flows.draft(session, incident_id=incident_id, data=body, actor=actor)
    return statement_reads(session, [statement])[0]


@router.post(
    "/{statement_id}/correct",
    response_model=StatementRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def correct_statement(
    incident_id: DbId,
    statement_id: DbId,
    body: StatementCorrection,
    session: SessionDep,
    actor: Responder,
) -> StatementRead:
    """A draft of a new version correcting a published statement, which stays as it was."""
    statement = flows.correct(
        session, incident_id=incident_id, statement_id=statement_id, data=body, actor=actor
    )
    return statement_reads(session, [statement])[0]


@router.post(
    "/{statement_id}/approve", response_model=StatementRead, responses=error_responses(404, 409)
)
def approve_statement(
    incident_id: DbId, statement_id: DbId, session: SessionDep, actor: Responder
) -> StatementRead:
    statement = flows.approve(
        session, incident_id=incident_id, statement_id=statement_id, actor=actor
    )
    return statement_reads(session, [statement])[0]


@router.post(
    "/{statement_id}/publish", response_model=StatementRead, responses=error_responses(404, 409)
)
def publish_statement(
    incident_id: DbId, statement_id: DbId, session: SessionDep, actor: Responder
) -> StatementRead:
    statement = flows.publish(
        session, incident_id=incident_id, statement_id=statement_id, actor=actor
    )
    return statement_reads(session, [statement])[0]
