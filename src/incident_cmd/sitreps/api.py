"""Situation reports of an incident: every member of staff reads them; the command center
(responders, communications, duty managers) may ask for one at any time."""

from collections.abc import Sequence

from fastapi import APIRouter, status
from sqlmodel import Session

from incident_cmd.auth import service as auth_service
from incident_cmd.deps import AnyUser, Responder, SessionDep
from incident_cmd.errors import error_responses
from incident_cmd.fields import DbId
from incident_cmd.sitreps import flows, service
from incident_cmd.sitreps.models import SituationReport
from incident_cmd.sitreps.schemas import ReportRead, ReportSummary

router = APIRouter(prefix="/api/v1/incidents/{incident_id}/reports", tags=["situation reports"])


def summaries(session: Session, reports: Sequence[SituationReport]) -> list[ReportSummary]:
    names = auth_service.usernames(session, ids={report.requested_by for report in reports})
    return [
        ReportSummary(
            number=report.number,
            compiled_at=report.compiled_at,
            scheduled=report.due_at is not None,
            requested_by=names.of(report.requested_by),
        )
        for report in reports
    ]


def report_read(session: Session, report: SituationReport) -> ReportRead:
    [summary] = summaries(session, [report])
    return ReportRead(**summary.model_dump(), content=report.content)


@router.get("", response_model=list[ReportSummary])
def list_reports(incident_id: DbId, session: SessionDep, _: AnyUser) -> list[ReportSummary]:
    """Newest first."""
    return summaries(session, flows.reports(session, incident_id=incident_id)[1])


@router.get("/{number}", response_model=ReportRead)
def get_report(incident_id: DbId, number: DbId, session: SessionDep, _: AnyUser) -> ReportRead:
    return report_read(session, service.get_report(session, incident_id=incident_id, number=number))


@router.post(
    "",
    response_model=ReportRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
def ask_for_report(incident_id: DbId, session: SessionDep, actor: Responder) -> ReportRead:
    """Compiles a report now and sends it to the commander and deputy (409 once the incident
    is resolved)."""
    return report_read(session, flows.on_demand(session, incident_id=incident_id, actor=actor))
