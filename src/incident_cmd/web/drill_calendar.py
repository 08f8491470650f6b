"""The drill calendar and the training record.

``/drills/calendar`` lists the drills scheduled (by each scenario's cadence or by hand) and
the drill requests the reviews left open; duty managers and admins schedule a drill, turn a
request into one of a scenario of the playbook it names, move, cancel or start one (the
start is the console's own). ``/drills/training`` is the training record: duty managers and
admins see everyone's, with per kind of objective its latest rating per person and charts of
participation and ratings per period (one kind at a time); anyone else sees their own."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.drills import calendar, flows, training
from incident_cmd.drills.loader import LoadedScenario, ScenarioInvalid
from incident_cmd.drills.models import DrillSchedule, ScheduleState
from incident_cmd.errors import DomainError, Forbidden, Invalid, NotFound
from incident_cmd.i18n import Locale
from incident_cmd.postmortems import drill_requests as postmortem_drill_requests
from incident_cmd.web import translations
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.board import may_declare
from incident_cmd.web.drill_labels import RATINGS
from incident_cmd.web.forms import error_status
from incident_cmd.web.incident_room import Wording
from incident_cmd.web.labels import N_
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

OBJECTIVE_KINDS = {
    "commander_acknowledged": N_("Commander acknowledges"),
    "holding_statement_approved": N_("Holding statement approved"),
    "customer_notice_approved": N_("Customer notice approved"),
    "first_sitrep_on_time": N_("First situation report on time"),
    "complaint_wave_triaged": N_("Complaint wave triaged"),
}
ROLES = {
    training.CONTROLLER: N_("Controller"),
    training.PARTICIPANT: N_("Participant"),
}
# Scheduled drills that ended or were cancelled stay on the calendar this long.
KEPT = timedelta(days=90)


def _registry(request: Request):
    return request.app.state.playbooks


def _scenarios(request: Request) -> tuple[dict[str, LoadedScenario], list[str]]:
    try:
        return flows.scenarios(_registry(request)), []
    except ScenarioInvalid as exc:
        return {}, [str(problem) for problem in exc.problems]


def _manager(user: User) -> None:
    if not may_declare(user):
        raise Forbidden(f"role {user.role!r} may not schedule drills")


def _name(loaded: LoadedScenario | None, key: str, locale: str) -> str:
    if loaded is None:
        return key
    return loaded.snapshot["name"].get(locale) or loaded.snapshot["name"]["en"]


@dataclass(frozen=True)
class Row:
    schedule: DrillSchedule
    name: str
    controller: str | None
    participants: list[str]
    overdue: bool


def _people(session: Session) -> list[User]:
    """Who may be named controller or participant: the active people who are not viewers."""
    return list(
        session.exec(
            select(User)
            .where(User.active, User.role != Role.viewer)
            .order_by(col(User.display_name))
        )
    )


def _calendar_page(
    request: Request,
    session: Session,
    user: User,
    *,
    refusal: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    scenarios, problems = _scenarios(request)
    locale = Locale(user.locale)
    now = clock.now()
    rows = calendar.list_schedules(session, since=now - KEPT)
    people = _people(session)
    names = {person.id: person.display_name for person in people} | auth_service.usernames(
        session, ids={row.controller_id for row in rows if row.controller_id}
    )
    requests = postmortem_drill_requests.open_drill_requests(session)
    by_playbook: dict[str, list[LoadedScenario]] = {}
    for loaded in sorted(scenarios.values(), key=lambda item: item.scenario.key):
        by_playbook.setdefault(loaded.scenario.playbook, []).append(loaded)
    return templates().TemplateResponse(
        request,
        "drill_calendar.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "rows": [
                Row(
                    row,
                    _name(scenarios.get(row.scenario_key), row.scenario_key, locale),
                    names.get(row.controller_id) if row.controller_id else None,
                    [names.get(person, "?") for person in row.participants],
                    row.state == ScheduleState.scheduled and row.at <= now,
                )
                for row in rows
            ],
            "requests": [(item, by_playbook.get(item.playbook_key, [])) for item in requests],
            "scenarios": sorted(scenarios.values(), key=lambda item: item.scenario.key),
            "problems": problems,
            "people": people,
            "may_control": may_declare(user),
            "refusal": refusal,
            "zone": ZoneInfo(user.timezone),
            "wording": Wording(locale, now),
            "say": lambda loaded: _name(loaded, loaded.scenario.key, locale),
        },
        status_code=status_code,
    )


@router.get("/drills/calendar", response_class=HTMLResponse)
def calendar_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return _calendar_page(request, session, user)


def _moment(value: str, user: User) -> datetime:
    """A ``datetime-local`` field, on the clock of the person who filled it in."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"at {value!r} is not a date and time", field="at") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(user.timezone))
    return moment


def _chosen(
    session: Session, controller: str, participants: list[str]
) -> tuple[User | None, list[User]]:
    """The controller and participants a form names by user id."""
    ids: list[int] = []
    for field, values in (
        ("controller", [controller] if controller else []),
        ("participants", participants),
    ):
        for value in values:
            if not value.isdigit():
                raise Invalid(f"{field} {value!r} is not a person", field=field)
            ids.append(int(value))
    found = {
        person.id: person
        for person in session.exec(select(User).where(col(User.id).in_(ids), User.active))
    }
    missing = [person for person in ids if person not in found]
    if missing:
        raise NotFound(f"no active person with id {missing[0]}", field="participants")
    chosen = found[int(controller)] if controller else None
    return chosen, [found[int(value)] for value in participants]


def _acted(request: Request, session: Session, user: User, action) -> Response:
    try:
        _manager(user)
        result = action()
        session.flush()
    except (DomainError, ScenarioInvalid) as exc:
        session.rollback()
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        code = error_status(exc) if isinstance(exc, DomainError) else 422
        return _calendar_page(request, session, user, refusal=message, status_code=code)
    if isinstance(result, str):
        return RedirectResponse(result, status_code=status.HTTP_303_SEE_OTHER)
    return RedirectResponse("/drills/calendar", status_code=status.HTTP_303_SEE_OTHER)


Text = Annotated[str, Form(max_length=64)]
When = Annotated[str, Form(max_length=40)]
People = Annotated[list[str], Form(max_length=200)]


@router.post("/drills/calendar")
def schedule_drill(
    request: Request,
    session: SessionDep,
    user: PageUser,
    scenario: Text = "",
    at: When = "",
    controller: Text = "",
    participants: People = [],  # noqa: B006 - FastAPI copies form defaults
    request_id: Annotated[int | None, Form()] = None,
) -> Response:
    def action() -> None:
        chosen, people = _chosen(session, controller, participants)
        flows.schedule_drill(
            session,
            playbooks=_registry(request),
            scenario_key=scenario,
            at=_moment(at, user),
            controller=chosen,
            participants=people,
            actor=user,
            request_id=request_id,
        )

    return _acted(request, session, user, action)


@router.post("/drills/calendar/{schedule_id}/move")
def move_drill(
    schedule_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    at: When = "",
    controller: Text = "",
    participants: People = [],  # noqa: B006 - FastAPI copies form defaults
) -> Response:
    def action() -> None:
        chosen, people = _chosen(session, controller, participants)
        flows.move_scheduled(
            session,
            playbooks=_registry(request),
            schedule_id=schedule_id,
            at=_moment(at, user),
            controller=chosen,
            participants=people,
            actor=user,
        )

    return _acted(request, session, user, action)


@router.post("/drills/calendar/{schedule_id}/cancel")
def cancel_drill(
    schedule_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    return _acted(
        request,
        session,
        user,
        lambda: flows.cancel_scheduled(
            session, playbooks=_registry(request), schedule_id=schedule_id, actor=user
        ),
    )


@router.post("/drills/calendar/{schedule_id}/start")
def start_drill(
    schedule_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    def action() -> str:
        run = flows.start_scheduled(
            session, playbooks=_registry(request), schedule_id=schedule_id, actor=user
        )
        return f"/drills/{run.id}"

    return _acted(request, session, user, action)


# --- the training record ----------------------------------------------------------------------


@router.get("/drills/training", response_class=HTMLResponse)
def training_page(
    request: Request, session: SessionDep, user: PageUser, person: int | None = None
) -> Response:
    """Everyone's record for those who run drills, one person's (``person``) on asking;
    anyone else's own only."""
    scenarios, problems = _scenarios(request)
    if not may_declare(user):
        if person not in (None, user.id):
            raise Forbidden("only duty managers and admins read others' training records")
        person = user.id
    if person is not None and session.get(User, person) is None:
        raise NotFound(f"no person with id {person}")
    records = training.records(
        session,
        scenarios=scenarios.values(),
        user_ids={person} if person is not None else None,
    )
    charts = training.charts(records, training.kind_cadences(scenarios.values()))
    locale = Locale(user.locale)
    gettext = translations.translations(locale).gettext
    return templates().TemplateResponse(
        request,
        "drill_training.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "records": records,
            "one": records[0] if person is not None and records else None,
            "charts": charts,
            "charts_data": [asdict(chart) for chart in charts],
            "kinds": OBJECTIVE_KINDS,
            "ratings": RATINGS,
            "rating_names": {value: gettext(label) for value, label in RATINGS.items()},
            "roles": ROLES,
            "problems": problems,
            "may_control": may_declare(user),
            "wording": Wording(locale, clock.now()),
            "names": {key: _name(loaded, key, locale) for key, loaded in scenarios.items()},
            "role_names": {
                role.key: role.title.zh_CN if locale == Locale.zh_CN else role.title.en
                for loaded in _registry(request).all()
                for role in loaded.playbook.roles
            },
        },
    )
