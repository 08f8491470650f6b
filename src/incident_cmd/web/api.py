"""Server-rendered pages for people: login, and the landing page of active incidents."""

from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.deps import SESSION_COOKIE, SessionDep
from incident_cmd.errors import Unauthorized
from incident_cmd.incidents import service as incident_service

router = APIRouter(tags=["web"], include_in_schema=False)


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def templates() -> Jinja2Templates:
    pages = Jinja2Templates(directory=Path(get_settings().template_dir) / "web")
    pages.env.filters["local"] = _local
    return pages


class LoginRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to the login page."""


def page_user(request: Request, session: SessionDep) -> User:
    secret = request.cookies.get(SESSION_COOKIE)
    user = auth_service.user_for_token(session, secret=secret) if secret else None
    if user is None:
        raise LoginRequired
    return user


PageUser = Annotated[User, Depends(page_user)]


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return templates().TemplateResponse(
        request, "login.html", {"organisation": get_settings().organisation_name, "error": None}
    )


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    try:
        user = auth_service.authenticate(session, username=username, password=password)
    except Unauthorized as exc:
        return templates().TemplateResponse(
            request,
            "login.html",
            {"organisation": get_settings().organisation_name, "error": exc.message},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    lifetime = auth_service.login_token_lifetime()
    _, secret = auth_service.issue_token(
        session, user=user, name="web login", expires_in=lifetime, actor_id=user.id
    )
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=get_settings().public_base_url.startswith("https://"),
    )
    return response


@router.post("/logout")
def logout(user: PageUser) -> Response:
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep, user: PageUser) -> Response:
    return templates().TemplateResponse(
        request,
        "index.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "incidents": incident_service.open_incidents(session),
        },
    )
