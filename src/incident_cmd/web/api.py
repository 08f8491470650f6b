"""Server-rendered pages for people: login, a campaign's delivery figures with the retry of
its failed messages, and the language switch (the landing page, the board, is web.board).

Every form here is CSRF-checked (the router's ``csrf_protect``); templates put
``{{ csrf_field() }}`` in each form. Page text is translated through the catalogs in
``web/locales`` (see ``web.translations``)."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import ApiToken, Role, TokenKind, User
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.auth.throttle import LoginThrottled
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.config import get_settings
from incident_cmd.deps import SESSION_COOKIE, ClientAddress, SessionDep, Throttle
from incident_cmd.errors import Unauthorized
from incident_cmd.i18n import Locale
from incident_cmd.web import translations
from incident_cmd.web.event_text import event_text_filter
from incident_cmd.web.security import csrf_protect, register_template_helpers

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


@cache
def _templates_in(directory: Path) -> Jinja2Templates:
    pages = Jinja2Templates(directory=directory)
    pages.env.filters["local"] = _local
    pages.env.filters["event_text"] = event_text_filter
    register_template_helpers(pages.env)
    translations.install(pages.env)
    return pages


def templates() -> Jinja2Templates:
    return _templates_in(Path(get_settings().template_dir) / "web")


# How long a path the login page carries back (the form field's bound).
NEXT_LIMIT = 2000


def login_path(request: Request) -> str:
    """The login page for a request that needs a login: a page (GET) asked for is where the
    login leads back to (the room a paged person's link led to), carried as ``next``
    through the login form."""
    if request.method != "GET" or request.url.path.startswith("/live/"):
        return "/login"
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if asked == "/" or len(asked) > NEXT_LIMIT:
        return "/login"
    return "/login?" + urlencode({"next": asked})


class LoginRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to the login page."""


def _live_session(request: Request, session: SessionDep) -> ApiToken | None:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    return auth_service.live_token(session, secret=secret, kinds=(TokenKind.session,))


def page_session(request: Request, session: SessionDep) -> ApiToken:
    token = _live_session(request, session)
    if token is None:
        raise LoginRequired
    return token


PageSession = Annotated[ApiToken, Depends(page_session)]


@dataclass(frozen=True)
class Reader:
    """Who a page is for, as the layout shows them and the page's language follows them."""

    display_name: str
    role: Role
    locale: Locale


def page_user(request: Request, session: SessionDep) -> User:
    # The session and its user in one dependency: one worker-thread step, not two.
    token = page_session(request, session)
    user = auth_service.get_user(session, user_id=token.user_id)
    # An error page is rendered after the request's session has ended, its rows expired: it
    # reads the reader from here (web.refused).
    request.state.reader = Reader(user.display_name, user.role, Locale(user.locale))
    return user


PageUser = Annotated[User, Depends(page_user)]


def _login_form(
    request: Request,
    *,
    back_to: str,
    username: str = "",
    wrong_credentials: bool = False,
    retry_after: int | None = None,
    status_code: int = 200,
) -> Response:
    """The reason a login failed is worded by the template, in the page's language; the
    username stays filled in for the next try, and where the login leads on to (a path on
    this site only; the board when it is not one) goes with the form."""
    back_to = _same_site_path(back_to)
    return templates().TemplateResponse(
        request,
        "login.html",
        {
            "organisation": get_settings().organisation_name,
            "back_to": back_to if back_to != "/" else None,
            "username": username,
            "wrong_credentials": wrong_credentials,
            "retry_after": retry_after,
        },
        status_code=status_code,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    back_to: Annotated[str, Query(alias="next", max_length=NEXT_LIMIT)] = "/",
) -> Response:
    return _login_form(request, back_to=back_to)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    throttle: Throttle,
    address: ClientAddress,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    back_to: Annotated[str, Form(alias="next", max_length=NEXT_LIMIT)] = "/",
) -> Response:
    try:
        user = auth_service.authenticate_throttled(
            session, throttle=throttle, username=username, password=password, address=address
        )
    except LoginThrottled as exc:
        response = _login_form(
            request,
            back_to=back_to,
            username=username,
            retry_after=exc.retry_after,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthorized:
        return _login_form(
            request,
            back_to=back_to,
            username=username,
            wrong_credentials=True,
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    previous = _live_session(request, session)
    if previous is not None:
        auth_service.end_token(session, token=previous, actor_id=previous.user_id)
    lifetime = auth_service.login_token_lifetime()
    _, secret = auth_service.issue_token(
        session,
        user=user,
        name="web login",
        kind=TokenKind.session,
        expires_in=lifetime,
        actor_id=user.id,
    )
    response = RedirectResponse(_same_site_path(back_to), status_code=status.HTTP_303_SEE_OTHER)
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
def logout(token: PageSession, session: SessionDep) -> Response:
    """Ends the session on the server too: the cookie's value is revoked, not just deleted."""
    auth_service.end_token(session, token=token, actor_id=token.user_id)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _same_site_path(path: str) -> str:
    """Where the language switch or a login sends the browser on to: a path on this site,
    never another site."""
    if path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return "/"


@router.post("/locale")
def switch_locale(
    request: Request,
    session: SessionDep,
    locale: Annotated[Locale, Form()],
    back_to: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    """The language switch in every page's header: the browser keeps the choice in a cookie
    (for the login page), and a signed-in user's stored locale changes with it (pages, pages
    sent to them, and messages follow the user's locale)."""
    token = _live_session(request, session)
    if token is not None:
        user = auth_service.get_user(session, user_id=token.user_id)
        if user.locale != locale:
            auth_service.update_user(
                session, user=user, data=UserUpdate(locale=locale), actor_id=user.id
            )
    response = RedirectResponse(_same_site_path(back_to), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        translations.LOCALE_COOKIE,
        locale.value,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=get_settings().public_base_url.startswith("https://"),
    )
    return response


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    campaign_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    retried: int | None = None,
) -> Response:
    campaign = campaign_service.get_campaign(session, campaign_id=campaign_id)
    return templates().TemplateResponse(
        request,
        "campaign.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "campaign": campaign,
            "counts": campaign_service.campaign_counts(session, campaign=campaign),
            "failures": campaign_service.failure_reasons(session, campaign=campaign),
            "may_retry": user.role in campaign_service.APPROVER_ROLES,
            "retried": retried,
        },
    )


@router.post("/campaigns/{campaign_id}/retry-failed")
def campaign_retry_failed(campaign_id: int, session: SessionDep, user: PageUser) -> Response:
    campaign = campaign_service.get_campaign(session, campaign_id=campaign_id)
    retried = campaign_service.retry_failed(session, campaign=campaign, actor=user)
    return RedirectResponse(
        f"/campaigns/{campaign_id}?retried={retried}", status_code=status.HTTP_303_SEE_OTHER
    )
