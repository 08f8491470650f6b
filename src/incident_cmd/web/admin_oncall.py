"""Administration of who is on call: teams and their rotations, who is on call each day of
the next two weeks in the reader's time zone, and the overrides (swaps) that change it. Admins
only, like the rest of /admin; overrides go through the teams service as the API's route does."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Rotation, RotationOverride, Team
from incident_cmd.teams.schemas import OverrideCreate, RotationRead, TeamRead
from incident_cmd.teams.service import OnCallSpan
from incident_cmd.web.admin import admin_context, is_admin, refused
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.forms import (
    FieldErrors,
    FormInvalid,
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
NOT_A_TIME = N_("Enter a date and time.")
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
    )


def _page(
    request: Request,
    session: Session,
    user: User,
    *,
    failed_team: str | None = None,
    values: Mapping[str, str] | None = None,
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
            "failed_team": failed_team,
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


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
        session.rollback()
        # The service names a person by position in its list ("user[0]").
        errors = {name.split("[")[0]: message for name, message in field_errors(exc).items()}
        for field in ("starts_at", "ends_at"):
            if field in errors and errors[field].startswith("Input should"):
                errors[field] = gettext(NOT_A_TIME)
        return _page(
            request,
            session,
            user,
            failed_team=key,
            values=values,
            errors=errors,
            status_code=error_status(exc),
        )
    return RedirectResponse(f"/admin/on-call#team-{key}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/admin/overrides/{override_id:int}/remove")
def remove_override(
    override_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    if not is_admin(user):
        return refused(request, user)
    team = team_service.remove_override(session, override_id=override_id, actor_id=user.id)
    return RedirectResponse(
        f"/admin/on-call#team-{team.key}", status_code=status.HTTP_303_SEE_OTHER
    )
