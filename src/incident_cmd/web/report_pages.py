"""The reports people take to a meeting: an incident's review as Markdown, HTML or PDF
(``/incidents/{id}/review.md|.html|.pdf``), and the quarterly after-sales review meeting
(售后复盘会, seed 003: 每季度召开) as a page with its trends charted
(``/reviews/quarterly?quarter=2026-Q4``) and as the same three documents.

Whoever is signed in reads them, as they read the review page; ``?lang=zh-CN|en`` picks the
document's language, else the reader's. Bad input is refused with 422 naming the field."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import Invalid
from incident_cmd.incidents import service as incident_service
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.postmortems import flows
from incident_cmd.postmortems import quarters as postmortem_quarters
from incident_cmd.timeline import service as timeline
from incident_cmd.web import reports
from incident_cmd.web.api import PageUser, templates

router = APIRouter(tags=["web"], include_in_schema=False)

Format = Literal["md", "html", "pdf"]
Lang = Annotated[str | None, Query(max_length=16, description="zh-CN or en")]
MEDIA = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


def document(request: Request, report: reports.Report, form: Format) -> Response:
    body: str | bytes
    if form == "md":
        body = reports.as_markdown(report)
    elif form == "html":
        body = reports.as_html(report, nonce=request.state.csp_nonce)
    else:
        body = reports.as_pdf(report)
    # Markdown is saved; HTML and PDF open in the browser, under a name worth saving.
    disposition = "attachment" if form == "md" else "inline"
    return Response(
        body,
        media_type=MEDIA[form],
        headers={"Content-Disposition": f'{disposition}; filename="{report.filename}.{form}"'},
    )


def _review_report(
    session: Session, incident_id: int, lang: str | None, reader_locale: str, zone: str
) -> reports.Report:
    locale = reports.report_locale(lang, reader_locale)
    incident = incident_service.get_incident(session, incident_id=incident_id)
    review = flows.review_read(session, incident_id=incident_id, locale=locale)
    starred = timeline.starred_events(
        session, subject_type=incident_service.SUBJECT, subject_id=incident.id
    )
    names = auth_service.usernames(session, ids={event.actor_id for event in starred})
    return reports.review_report(
        incident=incident,
        playbook=incident_service.playbook_of(session, incident),
        review=review,
        starred=starred,
        names=names.of,
        locale=locale,
        zone=zone,
    )


def _review_route(form: Format) -> None:
    def download(
        incident_id: int, request: Request, session: SessionDep, user: PageUser, lang: Lang = None
    ) -> Response:
        report = _review_report(session, incident_id, lang, user.locale, user.timezone)
        return document(request, report, form)

    router.add_api_route(
        f"/incidents/{{incident_id}}/review.{form}",
        download,
        methods=["GET"],
        name=f"review_{form}",
        response_class=Response,
    )


# --- the quarter ---------------------------------------------------------------------------


def _quarter(quarter: str | None) -> str:
    """The quarter asked for, checked; the current one in the organisation's zone if none."""
    if not quarter:
        return postmortem_quarters.quarter_of(clock.now())
    postmortem_quarters.quarter_bounds(quarter)
    return quarter


def _neighbours(quarter: str) -> tuple[str, str]:
    year, number = int(quarter[:4]), int(quarter[-1])
    before = f"{year - 1}-Q4" if number == 1 else f"{year}-Q{number - 1}"
    after = f"{year + 1}-Q1" if number == 4 else f"{year}-Q{number + 1}"
    return before, after


def _quarterly_report(
    session: Session, registry: PlaybookRegistry, quarter: str, locale_name: str
) -> reports.Report:
    data = flows.quarterly(session, quarter=quarter)
    playbooks = {loaded.playbook.key: loaded.playbook for loaded in registry.all()}
    return reports.quarterly_report(
        data=data, playbooks=playbooks, locale=reports.report_locale(None, locale_name)
    )


QuarterParam = Annotated[str | None, Query(max_length=16, description="YYYY-Qn, e.g. 2026-Q4")]


@router.get("/reviews/quarterly", response_class=HTMLResponse)
def quarterly_page(
    request: Request, session: SessionDep, user: PageUser, quarter: QuarterParam = None
) -> Response:
    """A quarter that is not one is answered with the page, its form saying why (422)."""
    try:
        chosen = _quarter(quarter)
    except Invalid as exc:
        return templates().TemplateResponse(
            request,
            "quarterly.html",
            {
                "organisation": get_settings().organisation_name,
                "user": user,
                "quarter": quarter,
                "refusal": str(exc),
                "report": None,
            },
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    report = _quarterly_report(session, request.app.state.playbooks, chosen, user.locale)
    before, after = _neighbours(chosen)
    return templates().TemplateResponse(
        request,
        "quarterly.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "quarter": chosen,
            "before": before,
            "after": after,
            "refusal": None,
            "report": report,
        },
    )


def _quarterly_route(form: Format) -> None:
    def download(
        request: Request,
        session: SessionDep,
        user: PageUser,
        quarter: QuarterParam = None,
        lang: Lang = None,
    ) -> Response:
        locale = reports.report_locale(lang, user.locale)
        report = _quarterly_report(session, request.app.state.playbooks, _quarter(quarter), locale)
        return document(request, report, form)

    router.add_api_route(
        f"/reviews/quarterly.{form}",
        download,
        methods=["GET"],
        name=f"quarterly_{form}",
        response_class=Response,
    )


FORMATS: tuple[Format, ...] = ("md", "html", "pdf")
for _form in FORMATS:
    _review_route(_form)
    _quarterly_route(_form)
