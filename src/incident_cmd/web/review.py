"""The post-incident review of an incident (``/incidents/{id}/review``): the figures computed
from the data, the review checklist with owners and working-day due dates, the starred
timeline entries, the written sections, the follow-up actions, the approval and the closing.

Each form calls the same flow, with the same rules, as the API (``postmortems/api.py``); a
refusal is shown next to the form it came from, with nothing changed; a form that went
through leads back to the page, at the part it changed."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError, Forbidden, Invalid
from incident_cmd.i18n import Locale
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.playbooks.api import RegistryDep
from incident_cmd.postmortems import flows
from incident_cmd.postmortems import quarters as postmortem_quarters
from incident_cmd.postmortems import revisions as postmortem_revisions
from incident_cmd.postmortems.models import RevisionState, Section
from incident_cmd.postmortems.schemas import (
    DrillRequestCreate,
    FollowUpCreate,
    PlanRevisionCreate,
    ReviewRead,
)
from incident_cmd.timeline import service as timeline
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.event_text import SECTION_NAMES
from incident_cmd.web.forms import error_status
from incident_cmd.web.incident_room import Wording
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])


@dataclass(frozen=True)
class Refusal:
    form: str
    message: str
    # What the person wrote in the refused form, given back to them to correct.
    kept: dict[str, str] | None = None


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _playbook_text(request: Request, key: str) -> str:
    """The playbook's file as it is now, which a proposed revision starts from."""
    registry = request.app.state.playbooks
    try:
        loaded = registry.get(key)
    except DomainError:
        return ""
    return postmortem_revisions.current_text(loaded.path)


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with the class the page colours it by."""
    shown = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        else:
            kind = "same"
        shown.append((kind, line))
    return shown


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
    wording = Wording(Locale(user.locale), clock.now())
    review: ReviewRead | None = None
    if incident.resolved_at is not None or incident.status in (
        IncidentStatus.in_review,
        IncidentStatus.closed,
    ):
        try:
            review = flows.review_read(session, incident_id=incident_id, locale=user.locale)
        except DomainError:
            review = None
    may = flows.permissions(session, incident=incident, actor=user)
    playbook = incident_service.playbook_of(session, incident)
    zone = ZoneInfo(user.timezone)
    # The starred entries as the room says them, in the reader's language.
    starred = (
        timeline.starred_events(
            session, subject_type=incident_service.SUBJECT, subject_id=incident.id
        )
        if review
        else []
    )
    curve_peak = (
        max((hour.count for hour in review.figures.complaint_curve), default=0) if review else 0
    )
    return templates().TemplateResponse(
        request,
        "review.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "incident": incident,
            "review": review,
            "may": may,
            "may_close": user.role == Role.duty_manager,
            "wording": wording,
            "span": lambda seconds: "—" if seconds is None else wording.span(seconds),
            "percent": _percent,
            "hour_label": lambda hour: (
                hour.replace(tzinfo=UTC).astimezone(zone).strftime("%m-%d %H:%M")
            ),
            "curve_peak": curve_peak,
            "role_title": lambda key: (
                wording.pick(role.title.model_dump(by_alias=True))
                if (role := playbook.role(key))
                else key
            ),
            "sections": [(section.value, SECTION_NAMES[section.value]) for section in Section],
            "people": [person for person in auth_service.list_users(session) if person.active]
            if may.edit
            else [],
            "today": clock.now().astimezone(zone).date().isoformat(),
            "refusal": refusal,
            "playbook": playbook,
            "quarter": postmortem_quarters.quarter_of(incident.declared_at),
            "starred": starred,
            "names": auth_service.usernames(session, ids={event.actor_id for event in starred}),
            "playbook_text": _playbook_text(request, playbook.key) if may.edit else "",
            "diff_lines": _diff_lines,
            "meeting_local": lambda moment: moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "last_meeting_day": lambda by: (
                by.astimezone(ZoneInfo(get_settings().default_timezone)).date() - timedelta(days=1)
            ).isoformat(),
            "accepted_revisions": [
                item for item in review.revisions if item.state == RevisionState.accepted
            ]
            if review
            else [],
        },
        status_code=status_code,
    )


@router.get("/incidents/{incident_id}/review", response_class=HTMLResponse)
def review_page(
    incident_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    return _page(request, session, user, incident_id)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {error['msg']}" if field else error["msg"]


def _after(
    request: Request,
    session: Session,
    user: User,
    incident_id: int,
    form: str,
    anchor: str,
    action: Any,
    kept: dict[str, str] | None = None,
) -> Response:
    try:
        action()
        session.flush()
    except (DomainError, ValidationError) as exc:
        session.rollback()
        message = exc.message if isinstance(exc, DomainError) else _first_error(exc)
        return _page(
            request,
            session,
            user,
            incident_id,
            refusal=Refusal(form, message, kept),
            status_code=error_status(exc),
        )
    return RedirectResponse(
        f"/incidents/{incident_id}/review#{anchor}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/incidents/{incident_id}/review/sections/{section}")
def edit_section(
    incident_id: int,
    section: Section,
    request: Request,
    session: SessionDep,
    user: PageUser,
    text: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    return _after(
        request,
        session,
        user,
        incident_id,
        f"section-{section}",
        f"section-{section}",
        lambda: flows.edit_section(
            session, incident_id=incident_id, section=section, text=text, actor=user
        ),
    )


@router.post("/incidents/{incident_id}/review/checklist/{task_id}/done")
def tick_item(
    incident_id: int, task_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    def action() -> None:
        incident = incident_service.get_incident(session, incident_id=incident_id)
        incident_service.complete_task(
            session, incident=incident, task_id=task_id, note="", actor=user
        )

    return _after(request, session, user, incident_id, "checklist", "checklist", action)


@router.post("/incidents/{incident_id}/review/followups")
def add_followup(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    title: Annotated[str, Form(max_length=500)] = "",
    owner: Annotated[str, Form(max_length=64)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    def action() -> None:
        data = FollowUpCreate.model_validate({"title": title, "owner": owner, "due_on": due_on})
        flows.add_followup(session, incident_id=incident_id, data=data, actor=user)

    return _after(request, session, user, incident_id, "followup", "followups", action)


@router.post("/incidents/{incident_id}/review/followups/{followup_id}/done")
def complete_followup(
    incident_id: int, followup_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    return _after(
        request,
        session,
        user,
        incident_id,
        f"followup-{followup_id}",
        "followups",
        lambda: flows.complete_followup(
            session, incident_id=incident_id, followup_id=followup_id, note="", actor=user
        ),
    )


@router.post("/incidents/{incident_id}/review/approve")
def approve(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _after(
        request,
        session,
        user,
        incident_id,
        "approval",
        "approval",
        lambda: flows.approve(session, incident_id=incident_id, note=note, actor=user),
    )


@router.post("/incidents/{incident_id}/review/close")
def close(incident_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    def action() -> None:
        if user.role != Role.duty_manager:
            raise Forbidden("only a duty manager closes an incident")
        incident = incident_service.get_incident(session, incident_id=incident_id)
        incident_flows.transition(
            session,
            incident=incident,
            change=StatusChange(status=IncidentStatus.closed),
            actor=user,
        )

    return _after(request, session, user, incident_id, "approval", "approval", action)


def _meeting_time(value: str, user: User) -> datetime:
    """A ``datetime-local`` field, on the clock of the person who filled it in."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"meeting_at {value!r} is not a date and time", field="meeting_at") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(user.timezone))
    return moment


@router.post("/incidents/{incident_id}/review/meeting")
def set_meeting(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    meeting_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    return _after(
        request,
        session,
        user,
        incident_id,
        "meeting",
        "meeting",
        lambda: flows.set_meeting(
            session,
            incident_id=incident_id,
            meeting_at=_meeting_time(meeting_at, user),
            actor=user,
        ),
    )


@router.post("/incidents/{incident_id}/review/revisions")
def propose_revision(
    incident_id: int,
    request: Request,
    session: SessionDep,
    registry: RegistryDep,
    user: PageUser,
    playbook: Annotated[str, Form(max_length=64)] = "",
    finding: Annotated[str, Form(max_length=2000)] = "",
    text: Annotated[str, Form(max_length=200_000)] = "",
) -> Response:
    def action() -> None:
        data = PlanRevisionCreate.model_validate(
            {"playbook": playbook, "finding": finding, "text": text}
        )
        flows.propose_revision(
            session, incident_id=incident_id, data=data, registry=registry, actor=user
        )

    return _after(
        request,
        session,
        user,
        incident_id,
        "revision",
        "revisions",
        action,
        kept={"finding": finding, "text": text},
    )


@router.post("/incidents/{incident_id}/review/revisions/{revision_id}/{decision}")
def decide_revision(
    incident_id: int,
    revision_id: int,
    decision: Literal["accept", "reject"],
    request: Request,
    session: SessionDep,
    user: PageUser,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _after(
        request,
        session,
        user,
        incident_id,
        f"revision-{revision_id}",
        f"revision-{revision_id}",
        lambda: flows.decide_revision(
            session,
            incident_id=incident_id,
            revision_id=revision_id,
            accept=decision == "accept",
            note=note,
            actor=user,
        ),
    )


@router.post("/incidents/{incident_id}/review/drill-requests")
def request_drill(
    incident_id: int,
    request: Request,
    session: SessionDep,
    registry: RegistryDep,
    user: PageUser,
    reason: Annotated[str, Form(max_length=2000)] = "",
    wanted_by: Annotated[str, Form(max_length=10)] = "",
    revision: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    def action() -> None:
        data = DrillRequestCreate.model_validate(
            {"reason": reason, "wanted_by": wanted_by, "revision": revision or None}
        )
        flows.request_drill(
            session, incident_id=incident_id, data=data, registry=registry, actor=user
        )

    return _after(request, session, user, incident_id, "drill", "drills", action)


@router.post("/incidents/{incident_id}/review/drill-requests/{request_id}/cancel")
def cancel_drill_request(
    incident_id: int, request_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    return _after(
        request,
        session,
        user,
        incident_id,
        f"drill-{request_id}",
        "drills",
        lambda: flows.cancel_drill_request(
            session, incident_id=incident_id, request_id=request_id, actor=user
        ),
    )
