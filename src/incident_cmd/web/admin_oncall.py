"""Administration of who is on call: teams, their members and rotations, who is on call each
day of the next two weeks in the reader's time zone, and the overrides (swaps) that change it.
Admins only, like the rest of /admin; every change goes through the teams service as the API's
routes do, its refusals shown next to the field at fault with nothing changed.

Each form on the page has a name (``new-team``, ``rotation-{key}-{name}``...): the one whose
post was refused is shown open, with what was typed and its errors."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.playbooks.api import RegistryDep
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Rotation, RotationOverride, Team
from incident_cmd.teams.schemas import (
    MemberAdd,
    OverrideCreate,
    RotationCreate,
    RotationRead,
    RotationUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)
from incident_cmd.teams.service import OnCallSpan
from incident_cmd.web.admin import admin_context, is_admin, refused
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.forms import (
    REQUIRED,
    FieldErrors,
    FormInvalid,
    Gettext,
    error_status,
    field_errors,
    filled,
    gettext_for,
    validated,
)
from incident_cmd.web.labels import N_
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

DAYS_AHEAD = 14
OVERRIDE_FIELDS = ("rotation", "user", "starts_at", "ends_at", "reason")
TEAM_FIELDS = ("key", "name", "timezone", "lead")
ROTATION_FIELDS = ("name", "shift", "handoff_time", "anchor_date")
# A rotation's form offers a select per turn: those it has, and a few empty ones to add people.
SPARE_TURNS = 2
FEWEST_TURNS_OFFERED = 4
NOT_A_TIME = N_("Enter a date and time.")
MALFORMED: Mapping[str, str] = {
    "key": N_("Lower-case letters, digits and dashes, starting with a letter or digit."),
    "timezone": N_("Not a time zone: use a name such as Asia/Shanghai."),
    "handoff_time": N_("Enter a time as HH:MM."),
    "anchor_date": N_("Enter a date."),
    "members": N_("Choose at least one person to take turns."),
}
Edit = TypeVar("Edit", TeamUpdate, RotationUpdate)
SHIFT_LABELS: Mapping[str, str] = {"daily": N_("Daily"), "weekly": N_("Weekly")}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


@dataclass(frozen=True)
class Turn:
    """Someone on call for part (or all) of one day, in the reader's zone."""

    username: str
    display_name: str
    override: bool
    # Local clock times where the turn starts or ends inside the day; None for the day's edge.
    starts: str | None
    ends: str | None


@dataclass(frozen=True)
class DayRow:
    day: date
    turns: list[list[Turn]]  # one list per rotation, in the rotations' order


@dataclass(frozen=True)
class TeamSchedule:
    team: Team
    read: TeamRead
    rotations: list[RotationRead]
    days: list[DayRow]
    overrides: list[tuple[RotationOverride, Rotation, str]]
    today: date  # in the team's zone: a new rotation's first day unless told otherwise


def _days(zone: ZoneInfo) -> list[tuple[date, datetime, datetime]]:
    """Today and the days after it in the reader's zone, each with its start and end."""
    today = clock.now().astimezone(zone).date()
    days = []
    for offset in range(DAYS_AHEAD):
        day = today + timedelta(days=offset)
        start = datetime.combine(day, time(), zone)
        end = datetime.combine(day + timedelta(days=1), time(), zone)
        days.append((day, start, end))
    return days


def _turns(
    spans: Sequence[OnCallSpan], start: datetime, end: datetime, zone: ZoneInfo
) -> list[Turn]:
    turns = []
    for span in spans:
        if span.end <= start or span.start >= end:
            continue
        turns.append(
            Turn(
                username=span.user.username,
                display_name=span.user.display_name,
                override=span.source == "override",
                starts=span.start.astimezone(zone).strftime("%H:%M")
                if span.start > start
                else None,
                ends=span.end.astimezone(zone).strftime("%H:%M") if span.end < end else None,
            )
        )
    return turns


def _schedule(session: Session, team: Team, zone: ZoneInfo) -> TeamSchedule:
    days = _days(zone)
    spans = team_service.on_call_spans(session, team=team, start=days[0][1], end=days[-1][2])
    read = team_service.team_read(session, team)
    rotations = read.rotations
    by_rotation = {
        rotation.id: [span for span in spans if span.rotation.id == rotation.id]
        for rotation in rotations
    }
    overrides = team_service.overrides_of(session, team=team, ending_after=clock.now())
    names = auth_service.usernames(session, ids=[override.user_id for override, _ in overrides])
    return TeamSchedule(
        team=team,
        read=read,
        rotations=rotations,
        days=[
            DayRow(
                day, [_turns(by_rotation[rotation.id], start, end, zone) for rotation in rotations]
            )
            for day, start, end in days
        ],
        overrides=[
            (override, rotation, names.of(override.user_id) or "")
            for override, rotation in overrides
        ],
        today=clock.now().astimezone(ZoneInfo(team.timezone)).date(),
    )


def turn_slots(members: Sequence[str]) -> list[str]:
    """The usernames a rotation's form shows in its turn selects, then empty ones."""
    count = max(len(members) + SPARE_TURNS, FEWEST_TURNS_OFFERED)
    return [*members, *[""] * (count - len(members))]


def _page(
    request: Request,
    session: Session,
    user: User,
    *,
    failed_form: str | None = None,
    values: Mapping[str, Any] | None = None,
    errors: FieldErrors | None = None,
    status_code: int = 200,
) -> Response:
    zone = ZoneInfo(user.timezone)
    everyone = auth_service.list_users(session)
    return templates().TemplateResponse(
        request,
        "admin_oncall.html",
        {
            **admin_context(user, "/admin/on-call"),
            "schedules": [
                _schedule(session, team, zone) for team in team_service.list_teams(session)
            ],
            "people": [person for person in everyone if person.active],
            # Rotations and overrides name people by username; the page by what they are called.
            "called": {person.username: person.display_name for person in everyone},
            "shift_labels": SHIFT_LABELS,
            "weekdays": WEEKDAYS,
            "turn_slots": turn_slots,
            "default_timezone": get_settings().default_timezone,
            "failed_form": failed_form,
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


def _refusal(
    request: Request,
    session: Session,
    user: User,
    exc: DomainError | FormInvalid,
    *,
    failed_form: str,
    values: Mapping[str, Any],
) -> Response:
    """The page again with nothing changed, the refused form open with its errors. The service
    names a person by position in its list ("members[2]"): that turn's select is at fault."""
    session.rollback()
    errors = {
        name.replace("[", "-").rstrip("]"): message for name, message in field_errors(exc).items()
    }
    for single in ("lead", "user"):
        if f"{single}-0" in errors:
            errors[single] = errors.pop(f"{single}-0")
    return _page(
        request,
        session,
        user,
        failed_form=failed_form,
        values=values,
        errors=errors,
        status_code=error_status(exc),
    )


def _to_team(key: str) -> Response:
    return RedirectResponse(f"/admin/on-call#team-{key}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/admin/on-call", response_class=HTMLResponse)
def on_call(request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    return _page(request, session, user)


def _moment(typed: str, zone: ZoneInfo) -> str:
    """A form's ``datetime-local`` value, read in the reader's zone, as the ISO time with an
    offset the API takes; anything else is passed on for the schema to refuse."""
    try:
        local = datetime.fromisoformat(typed)
    except ValueError:
        return typed
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.isoformat()


@router.post("/admin/teams/{key}/overrides")
async def add_override(key: str, request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    values = filled(await request.form(), OVERRIDE_FIELDS)
    zone = ZoneInfo(user.timezone)
    body: dict[str, Any] = {
        name: _moment(value, zone) if name in ("starts_at", "ends_at") else value
        for name, value in values.items()
        if name != "rotation"
    }
    gettext = gettext_for(user)
    try:
        team = team_service.get_team(session, key=key)
        data = validated(OverrideCreate, body, gettext, whole_form_field="ends_at")
        team_service.add_override(
            session,
            team=team,
            rotation_name=values.get("rotation", ""),
            data=data,
            actor_id=user.id,
        )
    except (FormInvalid, DomainError) as exc:
        if isinstance(exc, FormInvalid):
            for field in ("starts_at", "ends_at"):
                if exc.errors.get(field, "").startswith("Input should"):
                    exc.errors[field] = gettext(NOT_A_TIME)
        return _refusal(request, session, user, exc, failed_form=f"override-{key}", values=values)
    return _to_team(key)


@router.post("/admin/teams")
async def create_team(request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    values = filled(await request.form(), TEAM_FIELDS)
    try:
        data = validated(TeamCreate, values, gettext_for(user), malformed=MALFORMED)
        team = team_service.create_team(session, data=data, actor_id=user.id)
    except (FormInvalid, DomainError) as exc:
        return _refusal(request, session, user, exc, failed_form="new-team", values=values)
    return _to_team(team.key)


@router.post("/admin/teams/{key}")
async def change_team(key: str, request: Request, session: SessionDep, user: PageUser) -> Response:
    """The team's name, zone and lead, as PATCH /api/v1/teams/{key} changes them; an empty
    lead takes the lead away."""
    if not is_admin(user):
        return refused(request, user)
    values = filled(await request.form(), ("name", "timezone", "lead"))
    gettext = gettext_for(user)
    try:
        team = team_service.get_team(session, key=key)
        data = _edit(
            TeamUpdate, {**values, "lead": values.get("lead")}, ("name", "timezone"), gettext
        )
        team_service.update_team(session, team=team, data=data, actor_id=user.id)
    except (FormInvalid, DomainError) as exc:
        return _refusal(request, session, user, exc, failed_form=f"team-{key}", values=values)
    return _to_team(key)


@router.post("/admin/teams/{key}/members")
async def add_member(key: str, request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    values = filled(await request.form(), ("user",))
    try:
        team = team_service.get_team(session, key=key)
        data = validated(MemberAdd, values, gettext_for(user))
        team_service.add_member(session, team=team, username=data.user, actor_id=user.id)
    except (FormInvalid, DomainError) as exc:
        return _refusal(request, session, user, exc, failed_form=f"members-{key}", values=values)
    return RedirectResponse(f"/admin/on-call#members-{key}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/admin/teams/{key}/members/{username}/remove")
def remove_member(
    key: str, username: str, request: Request, session: SessionDep, user: PageUser
) -> Response:
    if not is_admin(user):
        return refused(request, user)
    try:
        team = team_service.get_team(session, key=key)
        team_service.remove_member(session, team=team, username=username, actor_id=user.id)
    except DomainError as exc:
        return _refusal(
            request, session, user, exc, failed_form=f"member-{key}-{username}", values={}
        )
    return RedirectResponse(f"/admin/on-call#members-{key}", status_code=status.HTTP_303_SEE_OTHER)


def _edit(
    schema: type[Edit], values: Mapping[str, Any], required: Sequence[str], gettext: Gettext
) -> Edit:
    """An edit form as ``schema`` takes it. The form sends every field, so one left empty is a
    mistake, not "keep it as it is" (the API's meaning of a field left out)."""
    missing = {name: gettext(REQUIRED) for name in required if not values.get(name)}
    given = {name: value for name, value in values.items() if name not in missing}
    try:
        data = validated(schema, given, gettext, malformed=MALFORMED)
    except FormInvalid as exc:
        raise FormInvalid({**exc.errors, **missing}) from None
    if missing:
        raise FormInvalid(missing)
    return data


async def _rotation_form(request: Request) -> dict[str, Any]:
    """The rotation form's fields, with its turns in order (the empty selects left out)."""
    form = await request.form()
    turns = [value.strip() for value in form.getlist("members") if isinstance(value, str)]
    return {**filled(form, ROTATION_FIELDS), "members": [turn for turn in turns if turn]}


@router.post("/admin/teams/{key}/rotations")
async def create_rotation(
    key: str, request: Request, session: SessionDep, user: PageUser
) -> Response:
    if not is_admin(user):
        return refused(request, user)
    values = await _rotation_form(request)
    try:
        team = team_service.get_team(session, key=key)
        data = validated(RotationCreate, values, gettext_for(user), malformed=MALFORMED)
        team_service.create_rotation(session, team=team, data=data, actor_id=user.id)
    except (FormInvalid, DomainError) as exc:
        return _refusal(
            request, session, user, exc, failed_form=f"new-rotation-{key}", values=values
        )
    return _to_team(key)


@router.post("/admin/teams/{key}/rotations/{name}")
async def change_rotation(
    key: str, name: str, request: Request, session: SessionDep, user: PageUser
) -> Response:
    """A rotation's shift, handoff, first day and turns, as PATCH
    /api/v1/teams/{key}/rotations/{name} changes them (its name stays)."""
    if not is_admin(user):
        return refused(request, user)
    values = await _rotation_form(request)
    values.pop("name", None)
    gettext = gettext_for(user)
    try:
        team = team_service.get_team(session, key=key)
        data = _edit(RotationUpdate, values, ("shift", "handoff_time", "anchor_date"), gettext)
        team_service.update_rotation(session, team=team, name=name, data=data, actor_id=user.id)
    except (FormInvalid, DomainError) as exc:
        return _refusal(
            request, session, user, exc, failed_form=f"rotation-{key}-{name}", values=values
        )
    return _to_team(key)


@router.post("/admin/teams/{key}/rotations/{name}/remove")
def remove_rotation(
    key: str,
    name: str,
    request: Request,
    session: SessionDep,
    registry: RegistryDep,
    user: PageUser,
) -> Response:
    """As DELETE /api/v1/teams/{key}/rotations/{name}: refused while anything pages through
    the rotation."""
    if not is_admin(user):
        return refused(request, user)
    try:
        incident_flows.remove_rotation(
            session, registry=registry, team_key=key, name=name, actor=user
        )
    except DomainError as exc:
        return _refusal(
            request, session, user, exc, failed_form=f"remove-rotation-{key}-{name}", values={}
        )
    return _to_team(key)


@router.post("/admin/overrides/{override_id:int}/remove")
def remove_override(
    override_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    if not is_admin(user):
        return refused(request, user)
    team = team_service.remove_override(session, override_id=override_id, actor_id=user.id)
    return _to_team(team.key)
