"""A drill run's evaluation, after HSEEP: ``/drills/{id}/evaluation`` shows each objective
scored automatically (met or not, with the times) and takes the evaluators' P/S/M/U ratings
with notes; ``/drills/{id}/hotwash`` takes the participants' notes right after the drill;
``/drills/{id}/aar`` is the after-action report with its improvement plan, whose items
become tracked follow-ups, and ``/drills/{id}/aar.md|.html|.pdf?lang=zh-CN|en`` the same
report as a document.

Whoever is signed in reads them; who may rate, note or plan is the drills evaluation's to
say (drills.evaluation). A refusal is shown on the page, with the field at fault and the
status (422 for bad input), and changes nothing."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.drills import evaluation, flows
from incident_cmd.drills.scoring import Score
from incident_cmd.errors import DomainError, Invalid
from incident_cmd.i18n import Locale
from incident_cmd.web import reports, translations
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.drill_labels import NOTE_KINDS, RATINGS, RESULTS, taken_text
from incident_cmd.web.event_text import Reading
from incident_cmd.web.forms import error_status
from incident_cmd.web.report_pages import FORMATS, Format, Lang, document
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

Text = Annotated[str, Form(max_length=4000)]


@dataclass(frozen=True)
class Refusal:
    message: str
    field: str | None


def _refused(exc: DomainError) -> Refusal:
    return Refusal(exc.message, exc.field)


@dataclass(frozen=True)
class ObjectiveRow:
    score: Score
    taken: str
    ratings: list[tuple[str, str, str]]  # evaluator, rating, notes
    mine: tuple[str, str] | None  # the reader's own rating and notes


def _context(session: Session, user: User, run_id: int) -> dict[str, object]:
    data = flows.evaluate(session, run_id=run_id)
    gettext = translations.translations(Locale(user.locale)).gettext
    rows = []
    for score in data.scores:
        given = [rating for rating in data.ratings if rating.objective_key == score.objective.key]
        mine = next((rating for rating in given if rating.evaluator_id == user.id), None)
        rows.append(
            ObjectiveRow(
                score,
                taken_text(score.taken, gettext),
                [
                    (data.names.of(rating.evaluator_id) or "—", rating.rating, rating.notes)
                    for rating in given
                ],
                (mine.rating, mine.notes) if mine else None,
            )
        )
    return {
        "organisation": get_settings().organisation_name,
        "user": user,
        "data": data,
        "rows": rows,
        "reading": Reading(Locale(user.locale), user.timezone, data.playbook),
        "ratings": RATINGS,
        "results": RESULTS,
        "note_kinds": NOTE_KINDS,
        "may_rate": evaluation.may_rate(session, run=data.run, user=user),
        "may_name": evaluation.may_name_evaluators(data.run, user),
        "may_note": flows.may_join_hot_wash(session, run=data.run, user=user),
    }


def _page(
    request: Request,
    session: Session,
    user: User,
    run_id: int,
    template: str,
    *,
    refusal: Refusal | None = None,
    status_code: int = status.HTTP_200_OK,
    extra: dict[str, object] | None = None,
) -> Response:
    context = _context(session, user, run_id) | (extra or {})
    context["refusal"] = refusal
    return templates().TemplateResponse(request, template, context, status_code=status_code)


def _after(
    request: Request,
    session: Session,
    user: User,
    run_id: int,
    template: str,
    back: str,
    action: Callable[[], object],
) -> Response:
    try:
        action()
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _page(
            request,
            session,
            user,
            run_id,
            template,
            refusal=_refused(exc),
            status_code=error_status(exc),
        )
    return RedirectResponse(back, status_code=status.HTTP_303_SEE_OTHER)


# --- evaluation: scores and ratings ----------------------------------------------------------


@router.get("/drills/{run_id}/evaluation", response_class=HTMLResponse)
def evaluation_page(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _page(request, session, user, run_id, "drill_evaluation.html")


@router.post("/drills/{run_id}/evaluation/{objective}/rating")
def rate(
    run_id: int,
    objective: str,
    request: Request,
    session: SessionDep,
    user: PageUser,
    rating: Annotated[str, Form(max_length=16)] = "",
    notes: Text = "",
) -> Response:
    return _after(
        request,
        session,
        user,
        run_id,
        "drill_evaluation.html",
        f"/drills/{run_id}/evaluation#objective-{objective}",
        lambda: flows.rate(
            session, run_id=run_id, objective_key=objective, rating=rating, notes=notes, actor=user
        ),
    )


@router.post("/drills/{run_id}/evaluators")
def name_evaluator(
    run_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    username: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return _after(
        request,
        session,
        user,
        run_id,
        "drill_evaluation.html",
        f"/drills/{run_id}/evaluation#evaluators",
        lambda: flows.name_evaluator(session, run_id=run_id, username=username, actor=user),
    )


# --- the hot wash ----------------------------------------------------------------------------


@router.get("/drills/{run_id}/hotwash", response_class=HTMLResponse)
def hot_wash_page(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _page(request, session, user, run_id, "drill_hotwash.html")


@router.post("/drills/{run_id}/hotwash")
def add_note(
    run_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    kind: Annotated[str, Form(max_length=16)] = "",
    text: Text = "",
) -> Response:
    return _after(
        request,
        session,
        user,
        run_id,
        "drill_hotwash.html",
        f"/drills/{run_id}/hotwash#notes",
        lambda: flows.add_hot_wash_note(session, run_id=run_id, kind=kind, text=text, actor=user),
    )


# --- the after-action report and its improvement plan ----------------------------------------


def _report(session: Session, run_id: int, lang: str | None, user: User) -> reports.Report:
    locale = reports.report_locale(lang, user.locale)
    return reports.drill_report(
        data=flows.evaluate(session, run_id=run_id), locale=locale, zone=user.timezone
    )


def _aar_page(
    request: Request,
    session: Session,
    user: User,
    run_id: int,
    *,
    refusal: Refusal | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    return _page(
        request,
        session,
        user,
        run_id,
        "drill_aar.html",
        refusal=refusal,
        status_code=status_code,
        extra={"report": _report(session, run_id, None, user)},
    )


@router.get("/drills/{run_id}/aar", response_class=HTMLResponse)
def aar_page(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _aar_page(request, session, user, run_id)


def _due(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"due_on {value!r} is not a date (YYYY-MM-DD)", field="due_on") from None


@router.post("/drills/{run_id}/aar/improvements")
def add_improvement(
    run_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    title: Annotated[str, Form(max_length=1000)] = "",
    owner: Annotated[str, Form(max_length=64)] = "",
    due_on: Annotated[str, Form(max_length=32)] = "",
    objective: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        flows.add_improvement(
            session,
            run_id=run_id,
            title=title,
            owner=owner,
            due_on=_due(due_on),
            objective_key=objective or None,
            actor=user,
        )
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _aar_page(
            request,
            session,
            user,
            run_id,
            refusal=_refused(exc),
            status_code=error_status(exc),
        )
    return RedirectResponse(f"/drills/{run_id}/aar#plan", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/drills/{run_id}/aar/improvements/{followup_id}/done")
def complete_improvement(
    run_id: int, followup_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    try:
        flows.complete_improvement(session, run_id=run_id, followup_id=followup_id, actor=user)
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _aar_page(
            request, session, user, run_id, refusal=_refused(exc), status_code=error_status(exc)
        )
    return RedirectResponse(f"/drills/{run_id}/aar#plan", status_code=status.HTTP_303_SEE_OTHER)


def _aar_route(form: Format) -> None:
    def download(
        run_id: int, request: Request, session: SessionDep, user: PageUser, lang: Lang = None
    ) -> Response:
        return document(request, _report(session, run_id, lang, user), form)

    router.add_api_route(
        f"/drills/{{run_id}}/aar.{form}",
        download,
        methods=["GET"],
        name=f"drill_aar_{form}",
        response_class=Response,
    )


for _form in FORMATS:
    _aar_route(_form)
