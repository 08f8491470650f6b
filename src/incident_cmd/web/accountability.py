"""Accountability on an incident (``/incidents/{id}/accountability``): its responsibility
findings with their route and state, the approval or ruling, the decision letters (each as a
page and a Markdown download) and the appeals, with the forms the reader may use.

Each form calls the same flow, with the same rules, as the API (``accountability/api.py``);
a refusal is shown next to the form it came from, nothing changed; a form that went through
leads back to the page, at the finding it changed."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import ValidationError
from sqlmodel import Session

from incident_cmd.accountability import flows, service
from incident_cmd.accountability.models import AppealState, FindingState, PenaltyKind
from incident_cmd.accountability.schemas import AppealDecision, FindingCreate
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError, Invalid
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.teams import service as team_service
from incident_cmd.web.accountability_labels import accountability_label
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.forms import error_status
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

# Raw HTML in a letter is shown as text: the facts and reasons are what people typed.
MARKDOWN = MarkdownIt("commonmark", {"html": False})


@dataclass(frozen=True)
class Refusal:
    form: str
    message: str


def _page(
    request: Request,
    session: Session,
    user: User,
    incident_id: int,
    *,
    refusal: Refusal | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    read = flows.accountability_read(
        session, incident_id=incident_id, actor=user, locale=user.locale
    )
    may = flows.access(session, incident=incident, actor=user)
    stored = {finding.id: finding for finding in service.findings_of(session, incident=incident)}
    rank = service.highest_rank(session, user=user)
    teams = team_service.list_teams(session)

    def may_decide(finding_id: int) -> bool:
        finding = stored[finding_id]
        return (
            finding.state == FindingState.proposed
            and finding.route in may.authorities
            and user.id != finding.proposed_by
            and user.id not in finding.people
        )

    def may_rule_appeal(finding_id: int, appellant: str) -> bool:
        finding = stored[finding_id]
        person = auth_service.get_user_by_username(session, username=appellant)
        return rank >= finding.route.rank and user.id in service.appeal_deciders(
            session, finding=finding, appellant_id=person.id
        )

    return templates().TemplateResponse(
        request,
        "accountability.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "incident": incident,
            "read": read,
            "may": may,
            "may_decide": may_decide,
            "may_rule_appeal": may_rule_appeal,
            "proposing": may.propose and incident.status == IncidentStatus.in_review,
            "alabel": accountability_label,
            "kinds": list(PenaltyKind),
            "outcomes": [AppealState.upheld, AppealState.varied, AppealState.revoked],
            "teams": teams if may.propose else [],
            "team_names": {team.key: team.name for team in teams},
            "people": [person for person in auth_service.list_users(session) if person.active]
            if may.propose
            else [],
            "today": service.today(),
            "refusal": refusal,
        },
        status_code=status_code,
    )


@router.get("/incidents/{incident_id}/accountability", response_class=HTMLResponse)
def accountability_page(
    incident_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    return _page(request, session, user, incident_id)


def _after(
    request: Request,
    session: Session,
    user: User,
    incident_id: int,
    form: str,
    anchor: str,
    action: Any,
) -> Response:
    try:
        action()
        session.flush()
    except (DomainError, ValidationError) as exc:
        session.rollback()
        if isinstance(exc, DomainError):
            message = exc.message
        else:
            error = exc.errors()[0]
            message = f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        return _page(
            request,
            session,
            user,
            incident_id,
            refusal=Refusal(form, message),
            status_code=error_status(exc),
        )
    return RedirectResponse(
        f"/incidents/{incident_id}/accountability#{anchor}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


def _amount(value: str, field: str) -> Decimal | None:
    """A form's amount as the API takes it: a JSON number, so a Decimal, not text."""
    if not value.strip():
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise Invalid(f"{value!r} is not an amount of yuan", field=field) from None


@router.post("/incidents/{incident_id}/accountability/findings")
async def propose(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    facts: Annotated[str, Form(max_length=5000)] = "",
    loss_amount: Annotated[str, Form(max_length=20)] = "",
    penalty_amount: Annotated[str, Form(max_length=20)] = "",
    penalty_kind: Annotated[str, Form(max_length=16)] = "",
    penalty_text: Annotated[str, Form(max_length=500)] = "",
    major: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    form = await request.form()
    people = [str(value) for value in form.getlist("people")]
    departments = [str(value) for value in form.getlist("departments")]

    def action() -> None:
        data = FindingCreate.model_validate(
            {
                "people": people,
                "departments": departments,
                "facts": facts,
                "loss_amount": _amount(loss_amount, "loss_amount"),
                "penalty_amount": _amount(penalty_amount, "penalty_amount"),
                "penalty_kind": penalty_kind,
                "penalty_text": penalty_text,
                "major": major == "on",
            }
        )
        flows.propose(session, incident_id=incident_id, data=data, actor=user)

    return _after(request, session, user, incident_id, "propose", "findings", action)


@router.post("/incidents/{incident_id}/accountability/findings/{finding_id}/{verdict}")
def decide(
    incident_id: int,
    finding_id: int,
    verdict: str,
    request: Request,
    session: SessionDep,
    user: PageUser,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    def action() -> None:
        if verdict == "approve":
            flows.approve(
                session, incident_id=incident_id, finding_id=finding_id, note=note, actor=user
            )
        elif verdict == "reject":
            flows.reject(
                session, incident_id=incident_id, finding_id=finding_id, note=note, actor=user
            )
        else:
            raise Invalid(f"{verdict!r} is approve or reject", field="verdict")

    return _after(
        request,
        session,
        user,
        incident_id,
        f"finding-{finding_id}",
        f"finding-{finding_id}",
        action,
    )


@router.post(
    "/incidents/{incident_id}/accountability/findings/{finding_id}/letters/{letter_id}/appeal"
)
def appeal(
    incident_id: int,
    finding_id: int,
    letter_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    def action() -> None:
        if not reason.strip():
            raise Invalid("give the reasons for the appeal", field="reason")
        flows.file_appeal(
            session,
            incident_id=incident_id,
            finding_id=finding_id,
            letter_id=letter_id,
            reason=reason,
            actor=user,
        )

    return _after(
        request,
        session,
        user,
        incident_id,
        f"letter-{letter_id}",
        f"finding-{finding_id}",
        action,
    )


@router.post(
    "/incidents/{incident_id}/accountability/findings/{finding_id}/appeals/{appeal_id}/decide"
)
def decide_appeal(
    incident_id: int,
    finding_id: int,
    appeal_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    outcome: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    penalty_amount: Annotated[str, Form(max_length=20)] = "",
    penalty_text: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def action() -> None:
        data = AppealDecision.model_validate(
            {
                "outcome": outcome,
                "note": note,
                "penalty_amount": _amount(penalty_amount, "penalty_amount"),
                "penalty_text": penalty_text,
            }
        )
        flows.decide_appeal(
            session,
            incident_id=incident_id,
            finding_id=finding_id,
            appeal_id=appeal_id,
            data=data,
            actor=user,
        )

    return _after(
        request,
        session,
        user,
        incident_id,
        f"appeal-{appeal_id}",
        f"finding-{finding_id}",
        action,
    )


@router.get(
    "/incidents/{incident_id}/accountability/findings/{finding_id}/letters/{letter_id}",
    response_class=HTMLResponse,
)
def letter_page(
    incident_id: int,
    finding_id: int,
    letter_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
) -> Response:
    letter = flows.letter(
        session, incident_id=incident_id, finding_id=finding_id, letter_id=letter_id, actor=user
    )
    return templates().TemplateResponse(
        request,
        "accountability_letter.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "incident_id": incident_id,
            "finding_id": finding_id,
            "letter": letter,
            # The stored Markdown, rendered with raw HTML escaped.
            "body": Markup(MARKDOWN.render(service.letter_text(letter, user.locale))),
        },
    )


@router.get(
    "/incidents/{incident_id}/accountability/findings/{finding_id}/letters/{letter_id}/markdown"
)
def letter_markdown(
    incident_id: int,
    finding_id: int,
    letter_id: int,
    session: SessionDep,
    user: PageUser,
) -> Response:
    letter = flows.letter(
        session, incident_id=incident_id, finding_id=finding_id, letter_id=letter_id, actor=user
    )
    return Response(
        service.letter_text(letter, user.locale),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{letter.number}.md"'},
    )
