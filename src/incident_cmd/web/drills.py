"""The drill controller's console: ``/drills`` lists the scenario files and the runs, and
starts a drill; ``/drills/{run_id}`` runs one (pause, resume, end, fire an inject now) and
shows what is due with its countdown, what has fired, and what the participants did (the
drill incident's timeline). Participants work in the incident room, under its DRILL banner.

Duty managers and admins control drills, as they declare incidents; everyone else may watch.
Each form calls the same flow as the sweep; a refusal is shown on the page, nothing changed."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.drills import flows, service
from incident_cmd.drills.loader import LoadedScenario, ScenarioInvalid
from incident_cmd.drills.models import DrillInject, DrillRun
from incident_cmd.drills.schema import Inject
from incident_cmd.errors import DomainError, Forbidden
from incident_cmd.i18n import Locale
from incident_cmd.incidents import service as incident_service
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.timeline import service as timeline
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.board import may_declare
from incident_cmd.web.forms import error_status
from incident_cmd.web.incident_room import Wording
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _registry(request: Request) -> PlaybookRegistry:
    return request.app.state.playbooks


def _controller(user: User) -> None:
    if not may_declare(user):
        raise Forbidden(f"role {user.role!r} may not control drills")


def _scenarios(request: Request) -> tuple[list[LoadedScenario], list[str]]:
    """The scenario files, or the problems that keep them from loading, one per line."""
    try:
        loaded = flows.scenarios(_registry(request))
    except ScenarioInvalid as exc:
        return [], [str(problem) for problem in exc.problems]
    return sorted(loaded.values(), key=lambda item: item.scenario.key), []


@dataclass(frozen=True)
class RunRow:
    run: DrillRun
    number: str
    name: dict[str, str]


def _list_page(
    request: Request,
    session: Session,
    user: User,
    *,
    refusal: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    scenarios, problems = _scenarios(request)
    runs = service.list_runs(session)
    numbers = incident_service.numbers_of(session, ids=[run.incident_id for run in runs])
    return templates().TemplateResponse(
        request,
        "drills.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "scenarios": scenarios,
            "problems": problems,
            "runs": [
                RunRow(run, numbers.get(run.incident_id, ""), run.scenario["name"]) for run in runs
            ],
            "may_control": may_declare(user),
            "refusal": refusal,
            "wording": Wording(Locale(user.locale), clock.now()),
        },
        status_code=status_code,
    )


@router.get("/drills", response_class=HTMLResponse)
def drills_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return _list_page(request, session, user)


@router.post("/drills")
def start_drill(
    request: Request,
    session: SessionDep,
    user: PageUser,
    scenario: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        _controller(user)
        run = flows.start(session, playbooks=_registry(request), scenario_key=scenario, actor=user)
        session.flush()
    except (DomainError, ScenarioInvalid) as exc:
        session.rollback()
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        code = error_status(exc) if isinstance(exc, DomainError) else 422
        return _list_page(request, session, user, refusal=message, status_code=code)
    return RedirectResponse(f"/drills/{run.id}", status_code=status.HTTP_303_SEE_OTHER)


@dataclass(frozen=True)
class InjectRow:
    row: DrillInject
    planned: Inject
    seconds_left: int | None


def _console(session: Session, user: User, run_id: int) -> dict[str, Any]:
    """What the drill console shows of a run, as of now."""
    run = service.get_run(session, run_id=run_id)
    incident = incident_service.get_incident(session, incident_id=run.incident_id)
    scenario = service.scenario_of(run)
    now = clock.now()
    # While paused the countdown stands still at what was left when the drill paused.
    reference: datetime = run.paused_at or now
    rows = [
        InjectRow(
            row,
            scenario.injects[row.position],
            int((row.due_at - reference).total_seconds()) if row.state in service.WAITING else None,
        )
        for row in service.injects_of(session, run=run)
    ]
    events = timeline.events_for(
        session, subject_type=incident_service.SUBJECT, subject_id=incident.id
    )
    return {
        "organisation": get_settings().organisation_name,
        "user": user,
        "run": run,
        "scenario": scenario,
        "incident": incident,
        "playbook": incident_service.playbook_of(session, incident),
        "due": [row for row in rows if row.seconds_left is not None],
        "fired": [row for row in rows if row.row.fired_at is not None],
        "events": list(reversed(events)),
        "names": auth_service.usernames(session, ids={e.actor_id for e in events}),
        "controller": auth_service.get_user(session, user_id=run.controller_id),
        "may_control": may_declare(user),
        "wording": Wording(Locale(user.locale), now),
    }


def _run_page(
    request: Request,
    session: Session,
    user: User,
    run_id: int,
    *,
    refusal: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    return templates().TemplateResponse(
        request,
        "drill_run.html",
        _console(session, user, run_id) | {"refusal": refusal},
        status_code=status_code,
    )


@router.get("/drills/{run_id}", response_class=HTMLResponse)
def run_page(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _run_page(request, session, user, run_id)


@router.get("/drills/{run_id}/fragment", response_class=HTMLResponse)
def run_fragment(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    """The console's body, fetched again when the drill's incident changes."""
    return templates().TemplateResponse(
        request, "drill_run_fragment.html", _console(session, user, run_id)
    )


def _after(
    request: Request, session: Session, user: User, run_id: int, action: Callable[[], object]
) -> Response:
    try:
        _controller(user)
        action()
        session.flush()
    except DomainError as exc:
        session.rollback()
        return _run_page(
            request, session, user, run_id, refusal=exc.message, status_code=error_status(exc)
        )
    return RedirectResponse(f"/drills/{run_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/drills/{run_id}/pause")
def pause(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _after(
        request, session, user, run_id, lambda: flows.pause(session, run_id=run_id, actor=user)
    )


@router.post("/drills/{run_id}/resume")
def resume(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _after(
        request, session, user, run_id, lambda: flows.resume(session, run_id=run_id, actor=user)
    )


@router.post("/drills/{run_id}/end")
def end(run_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _after(
        request, session, user, run_id, lambda: flows.end(session, run_id=run_id, actor=user)
    )


@router.post("/drills/{run_id}/injects/{key}/fire")
def fire(run_id: int, key: str, request: Request, session: SessionDep, user: PageUser) -> Response:
    def action() -> None:
        run = service.get_run(session, run_id=run_id, lock=True)
        flows.fire_now(session, playbooks=_registry(request), run=run, key=key, actor=user)

    return _after(request, session, user, run_id, action)
