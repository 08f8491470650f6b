from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.deps import AnyUser, SessionDep
from incident_cmd.errors import Forbidden, Invalid, error_responses
from incident_cmd.fields import DbId
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident
from incident_cmd.messaging import direct
from incident_cmd.paging import answers, flows, links, mobilisation, queries
from incident_cmd.paging.models import (
    ANSWERABLE,
    AnswerRoute,
    Page,
    PageStatus,
    PageTarget,
    TargetStatus,
)
from incident_cmd.paging.pages import SOURCE, page_context, role_title
from incident_cmd.paging.schemas import (
    AnswerRead,
    DirectMessageRead,
    MobilisationRead,
    MyPage,
    PageRead,
    RoleFigureRead,
    TargetRead,
)
from incident_cmd.web.api import templates

router = APIRouter(prefix="/api/v1", tags=["paging"])
public = APIRouter(tags=["paging"])


def _pages_read(session: Session, pages: list[Page]) -> list[PageRead]:
    targets = queries.targets_of(session, page_ids=[page.id for page in pages])
    messages = direct.messages_for(
        session, source=SOURCE, source_ids=[target.id for target in targets]
    )
    names = auth_service.usernames(
        session,
        ids={target.user_id for target in targets} | {page.acknowledged_by for page in pages},
    )
    reads = {
        page.id: PageRead(
            id=page.id,
            incident_id=page.incident_id,
            role=page.role_key,
            slot=page.slot,
            drill=page.drill,
            status=page.status,
            level=page.level,
            round=page.round + 1,
            escalate_at=page.escalate_at,
            created_at=page.created_at,
            acknowledged_at=page.acknowledged_at,
            acknowledged_by=names.of(page.acknowledged_by),
            acknowledged_via=page.acknowledged_via,
            targets=[],
        )
        for page in pages
    }
    for target in targets:
        reads[target.page_id].targets.append(
            TargetRead(
                id=target.id,
                user=names[target.user_id],
                reason=target.reason,
                level=target.level,
                round=target.round + 1,
                status=target.status,
                created_at=target.created_at,
                answered_at=target.answered_at,
                answered_via=target.answered_via,
                next_step_at=target.next_step_at,
                messages=[
                    DirectMessageRead(
                        id=message.id,
                        key=message.key,
                        channel=message.channel,
                        status=message.status,
                        attempts=message.attempts,
                        sent_at=message.sent_at,
                        error_message=message.error_message,
                    )
                    for message in messages
                    if message.source_id == target.id
                ],
            )
        )
    return list(reads.values())


@router.get("/incidents/{incident_id}/paging", response_model=MobilisationRead)
def incident_paging(incident_id: DbId, session: SessionDep, _: AnyUser) -> MobilisationRead:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    figures = mobilisation.mobilisation(session, incident=incident)
    names = auth_service.usernames(session, ids={role.acknowledged_by for role in figures.roles})
    return MobilisationRead(
        roles=[
            RoleFigureRead(
                role=role.role,
                slot=role.slot,
                status=role.status,
                paged_at=role.paged_at,
                acknowledged_at=role.acknowledged_at,
                acknowledged_by=names.of(role.acknowledged_by),
                seconds_to_ack=role.seconds_to_ack,
                target_seconds=role.target_seconds,
                within_target=role.within_target,
            )
            for role in figures.roles
        ],
        full_roster_at=figures.full_roster_at,
        seconds_to_full_roster=figures.seconds_to_full_roster,
        full_roster_target_seconds=figures.full_roster_target_seconds,
        within_target=figures.within_target,
        pages=_pages_read(session, list(queries.pages_of(session, incident=incident))),
    )


@router.get("/pages", response_model=list[MyPage])
def my_pages(session: SessionDep, user: AnyUser) -> list[MyPage]:
    """The pages waiting for the caller's answer."""
    result = []
    for target in queries.open_targets_for(session, user=user):
        page = session.get_one(Page, target.page_id)
        incident = session.get_one(Incident, page.incident_id)
        result.append(
            MyPage(
                target_id=target.id,
                code=target.code,
                incident_id=incident.id,
                incident_number=incident.number,
                incident_title=incident.title,
                role=page.role_key,
                drill=page.drill,
                created_at=target.created_at,
            )
        )
    return result


def _answer_read(answer: answers.Answer) -> AnswerRead:
    return AnswerRead(
        target_id=answer.target.id,
        page_status=answer.page.status,
        changed=answer.changed,
        message=answer.text,
    )


@router.post("/pages/{target_id}/{action}", response_model=AnswerRead)
def answer_page(target_id: DbId, action: str, session: SessionDep, user: AnyUser) -> AnswerRead:
    target = queries.get_target(session, target_id=target_id)
    if target.user_id != user.id:
        raise Forbidden("only the person paged can answer this page")
    if action not in ("acknowledge", "decline"):
        raise Invalid("action must be acknowledge or decline", field="action")
    handler = flows.acknowledge if action == "acknowledge" else answers.decline
    return _answer_read(handler(session, target=target, via=AnswerRoute.api))


# --- the link in a page: the signed token is the credential ------------------------------
# Opening the link shows the page and two buttons; only the button's POST answers. Mail
# scanners and chat apps fetch links to preview them, and must not acknowledge for anyone.


def _link_page(request: Request, session: Session, target: PageTarget, message: str | None):
    page = session.get_one(Page, target.page_id)
    incident = session.get_one(Incident, page.incident_id)
    user = session.get_one(User, target.user_id)
    context = page_context(session, page)
    return templates().TemplateResponse(
        request,
        "page_answer.html",
        {
            "organisation": get_settings().organisation_name,
            "incident": incident,
            "role": role_title(context.role, page.role_key, user.locale),
            "person": user.display_name,
            "answerable": target.status == TargetStatus.open and page.status in ANSWERABLE,
            "acknowledged": page.status == PageStatus.acknowledged,
            "message": message,
            # The paged person's own language leads; both are shown, whoever holds the phone.
            "locale": user.locale,
        },
    )


@public.get("/page/{token}", response_class=HTMLResponse, responses=error_responses(403))
def page_link(token: str, request: Request, session: SessionDep) -> Response:
    target = links.target_from_token(session, token=token)
    return _link_page(request, session, target, None)


@public.post("/page/{token}", response_class=HTMLResponse, responses=error_responses(403))
def page_link_answer(
    token: str,
    request: Request,
    session: SessionDep,
    action: Annotated[str, Form()],
) -> Response:
    target = links.target_from_token(session, token=token)
    if action not in ("acknowledge", "decline"):
        raise Invalid("action must be acknowledge or decline", field="action")
    handler = flows.acknowledge if action == "acknowledge" else answers.decline
    answer = handler(session, target=target, via=AnswerRoute.link)
    return _link_page(request, session, target, answer.text)
