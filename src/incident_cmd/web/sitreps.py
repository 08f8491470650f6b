"""An incident's situation reports for the staff (``/incidents/{id}/reports``): the one asked
for (the latest by default) in full, every report kept, and, for the command center, a button
that compiles one now and sends it to the commander and deputy, as the API does."""

from datetime import datetime
from types import SimpleNamespace

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import CampaignStatus
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError, Forbidden
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import OPEN_STATUSES, IncidentStatus
from incident_cmd.sitreps import flows
from incident_cmd.sitreps.api import summaries
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.forms import error_status
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

# The API's ``Responder``: whoever works in the command center may ask for a report.
ASKERS = (Role.admin, Role.duty_manager, Role.responder, Role.comms)


def _page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    incident_id: int,
    *,
    number: int | None = None,
    error: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    incident, reports = flows.reports(session, incident_id=incident_id)
    shown = next((report for report in reports if report.number == number), None)
    shown = shown or (reports[0] if reports else None)
    playbook = incident_service.playbook_of(session, incident)
    every = next(
        (level.report_every for level in playbook.severities if level.key == incident.severity),
        None,
    )
    return templates().TemplateResponse(
        request,
        "sitreps.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "incident": incident,
            "every": every,
            "role_titles": {
                role.key: role.title.model_dump(by_alias=True) for role in playbook.roles
            },
            "moment": datetime.fromisoformat,
            "status_of": IncidentStatus,
            "campaign_status_of": CampaignStatus,
            "reports": summaries(session, reports),
            "shown": shown,
            # Notices read as objects, so they are named as everywhere else (notice_name).
            "notices": [SimpleNamespace(**notice) for notice in shown.content["campaigns"]]
            if shown
            else [],
            "may_ask": user.role in ASKERS and incident.status in OPEN_STATUSES,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/incidents/{incident_id}/reports", response_class=HTMLResponse)
def reports_page(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    number: int | None = None,
) -> Response:
    return _page(request, session, user, incident_id, number=number)


@router.get("/incidents/{incident_id}/reports/{number}", response_class=HTMLResponse)
def report_page(
    incident_id: int, number: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    """The link each report's SMS and email carries."""
    return _page(request, session, user, incident_id, number=number)


@router.post("/incidents/{incident_id}/reports")
def ask_for_report(
    incident_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    if user.role not in ASKERS:
        raise Forbidden("only the command center asks for situation reports")
    try:
        report = flows.on_demand(session, incident_id=incident_id, actor=user)
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _page(
            request, session, user, incident_id, error=exc.message, status_code=error_status(exc)
        )
    return RedirectResponse(
        f"/incidents/{incident_id}/reports/{report.number}", status_code=status.HTTP_303_SEE_OTHER
    )
