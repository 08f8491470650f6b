"""Administration pages, for admins only (as the API's user routes require): people and their
roles, their tokens, and the playbooks this server loaded with any file that fails to load.
Teams, rotations and overrides are in ``web.admin_oncall``.

Every change goes through the auth service as the API's routes do; its refusals (the last
active admin, a username taken) come back next to their field with nothing changed."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import ApiToken, Role, TokenKind, User
from incident_cmd.auth.schemas import TokenCreate, UserCreate, UserUpdate
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError
from incident_cmd.i18n import LOCALES
from incident_cmd.playbooks.loader import PlaybookInvalid, Problem, load_file
from incident_cmd.playbooks.service import PlaybookRegistry
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
from incident_cmd.web.refused import refused_page
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

NOT_ALLOWED = N_("Administration is for administrators only.")
USER_FIELDS = (
    "username",
    "display_name",
    "role",
    "email",
    "phone",
    "timezone",
    "locale",
    "password",
)
ENDED_TOKENS_SHOWN = 20
ADMIN_SECTIONS: Mapping[str, str] = {
    "/admin": N_("People"),
    "/admin/on-call": N_("On call"),
    "/admin/playbooks": N_("Playbooks"),
}
TOKEN_KINDS: Mapping[str, str] = {
    TokenKind.api: N_("API token"),
    TokenKind.login: N_("API login"),
    TokenKind.session: N_("Page session"),
}


def is_admin(user: User) -> bool:
    return user.role == Role.admin


def refused(request: Request, user: User) -> Response:
    """The page a non-admin gets instead of an admin page (403)."""
    return refused_page(request, user, NOT_ALLOWED)


def admin_context(user: User, section: str) -> dict[str, Any]:
    """What every admin page's layout needs: the reader and the section tabs."""
    return {
        "organisation": get_settings().organisation_name,
        "user": user,
        "sections": ADMIN_SECTIONS,
        "section": section,
    }


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


# --- people --------------------------------------------------------------------------------


def _people_page(
    request: Request,
    session: Session,
    user: User,
    *,
    values: Mapping[str, str] | None = None,
    errors: FieldErrors | None = None,
    failed_user: str | None = None,
    status_code: int = 200,
) -> Response:
    """``failed_user``: the person whose row's change was refused (its errors are shown in
    that row); otherwise the errors belong to the new-user form."""
    return templates().TemplateResponse(
        request,
        "admin_users.html",
        {
            **admin_context(user, "/admin"),
            "people": auth_service.list_users(session),
            "roles": list(Role),
            "locales": LOCALES,
            "default_timezone": get_settings().default_timezone,
            "values": values or {},
            "errors": errors or {},
            "failed_user": failed_user,
            "created": request.query_params.get("created"),
        },
        status_code=status_code,
    )


@router.get("/admin", response_class=HTMLResponse)
def people(request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    return _people_page(request, session, user)


@router.post("/admin/users")
async def create_user(request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    values = filled(await request.form(), USER_FIELDS)
    try:
        data = validated(UserCreate, values, gettext_for(user))
        created = auth_service.create_user(session, data=data, actor_id=user.id)
    except (FormInvalid, DomainError) as exc:
        session.rollback()
        errors = field_errors(exc)
        values.pop("password", None)
        return _people_page(
            request, session, user, values=values, errors=errors, status_code=error_status(exc)
        )
    return _see_other(f"/admin?created={created.username}#user-{created.username}")


@router.post("/admin/users/{username}")
async def change_user(
    username: str, request: Request, session: SessionDep, user: PageUser
) -> Response:
    """A row's role and active switch, as PATCH /api/v1/users/{username} changes them."""
    if not is_admin(user):
        return refused(request, user)
    form = await request.form()
    # The API's Flag is a strict boolean; a checkbox sends "on" or nothing.
    values: dict[str, Any] = {**filled(form, ("role",)), "active": form.get("active") == "on"}
    try:
        person = auth_service.get_user_by_username(session, username=username)
        data = validated(UserUpdate, values, gettext_for(user))
        auth_service.update_user(session, user=person, data=data, actor_id=user.id)
    except (FormInvalid, DomainError) as exc:
        session.rollback()
        return _people_page(
            request,
            session,
            user,
            errors=field_errors(exc),
            failed_user=username,
            status_code=error_status(exc),
        )
    return _see_other(f"/admin#user-{username}")


# --- tokens --------------------------------------------------------------------------------


def _tokens_shown(tokens: Sequence[ApiToken]) -> list[ApiToken]:
    """Live tokens, then the most recently ended: a person who logs in daily has hundreds."""
    now = clock.now()
    live = [
        token
        for token in tokens
        if token.revoked_at is None and (token.expires_at is None or token.expires_at > now)
    ]
    ended = [token for token in tokens if token not in live]
    return (
        sorted(live, key=lambda t: t.id, reverse=True)
        + sorted(ended, key=lambda t: t.id, reverse=True)[:ENDED_TOKENS_SHOWN]
    )


def _person_page(
    request: Request,
    session: Session,
    user: User,
    username: str,
    *,
    issued: tuple[ApiToken, str] | None = None,
    values: Mapping[str, str] | None = None,
    errors: FieldErrors | None = None,
    status_code: int = 200,
) -> Response:
    person = auth_service.get_user_by_username(session, username=username)
    tokens = auth_service.list_tokens(session, user=person)
    response = templates().TemplateResponse(
        request,
        "admin_user.html",
        {
            **admin_context(user, "/admin"),
            "person": person,
            "tokens": _tokens_shown(tokens),
            "live_ids": {
                token.id
                for token in tokens
                if token.revoked_at is None
                and (token.expires_at is None or token.expires_at > clock.now())
            },
            "kinds": TOKEN_KINDS,
            "issued": issued,
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )
    if issued is not None:
        # The secret is in this page alone: no cache may keep a copy.
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/admin/users/{username}", response_class=HTMLResponse)
def person_page(username: str, request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    return _person_page(request, session, user, username)


@router.post("/admin/users/{username}/tokens")
async def issue_token(
    username: str, request: Request, session: SessionDep, user: PageUser
) -> Response:
    """As ``incident-cmd token issue`` does for an admin: an API token for the person, its
    secret shown once in this answer (no redirect: it is never stored to be shown again)."""
    if not is_admin(user):
        return refused(request, user)
    values = filled(await request.form(), ("name", "expires_in_hours"))
    hours_typed = values.get("expires_in_hours", "")
    # The API's WholeNumber is a strict integer: digits become one, anything else is refused.
    typed: dict[str, Any] = {
        **values,
        **({"expires_in_hours": int(hours_typed)} if hours_typed.isdigit() else {}),
    }
    try:
        person = auth_service.get_user_by_username(session, username=username)
        data = validated(TokenCreate, typed, gettext_for(user))
        hours = data.expires_in_hours
        issued = auth_service.issue_token(
            session,
            user=person,
            name=data.name,
            expires_in=timedelta(hours=hours) if hours else None,
            actor_id=user.id,
        )
    except (FormInvalid, DomainError) as exc:
        session.rollback()
        return _person_page(
            request,
            session,
            user,
            username,
            values=values,
            errors=field_errors(exc),
            status_code=error_status(exc),
        )
    return _person_page(
        request, session, user, username, issued=issued, status_code=status.HTTP_201_CREATED
    )


@router.post("/admin/tokens/{token_id:int}/revoke")
def revoke_token(token_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    token = auth_service.revoke_token(session, token_id=token_id, actor=user)
    person = auth_service.get_user(session, user_id=token.user_id)
    return _see_other(f"/admin/users/{person.username}#token-{token.id}")


# --- playbooks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybookFile:
    """A file in the playbook directory as ``incident-cmd playbook validate`` reads it now,
    and whether this server is serving it."""

    name: str
    key: str | None
    title: dict[str, str] | None
    severities: list[str]
    problems: list[Problem]
    served: bool


def _playbook_files(registry: PlaybookRegistry) -> list[PlaybookFile]:
    settings = get_settings()
    directory: Path = settings.playbook_dir
    served = {item.content_hash for item in registry.all()}
    files = []
    paths = (
        sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]) if directory.is_dir() else []
    )
    for path in paths:
        try:
            loaded = load_file(path, settings.template_dir)
        except PlaybookInvalid as exc:
            files.append(PlaybookFile(path.name, None, None, [], exc.problems, served=False))
            continue
        files.append(
            PlaybookFile(
                path.name,
                loaded.playbook.key,
                loaded.snapshot["name"],
                [severity.key for severity in loaded.playbook.severities],
                [],
                served=loaded.content_hash in served,
            )
        )
    return files


@router.get("/admin/playbooks", response_class=HTMLResponse)
def playbooks(request: Request, user: PageUser) -> Response:
    if not is_admin(user):
        return refused(request, user)
    registry: PlaybookRegistry = request.app.state.playbooks
    return templates().TemplateResponse(
        request,
        "admin_playbooks.html",
        {
            **admin_context(user, "/admin/playbooks"),
            "files": _playbook_files(registry),
            "directory": get_settings().playbook_dir,
        },
    )
