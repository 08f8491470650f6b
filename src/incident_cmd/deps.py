"""Dependencies shared by every router: the request's session and its authenticated user."""

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlmodel import Session

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import ApiToken, Role, TokenKind, User
from incident_cmd.auth.throttle import LoginThrottle
from incident_cmd.batching import Sessions
from incident_cmd.db import get_engine

SESSION_COOKIE = "icmd_session"
# The page cookie's token is never a Bearer token, nor a Bearer token a page cookie.
BEARER_KINDS = (TokenKind.api, TokenKind.login)


def get_session() -> Iterator[Session]:
    """One transaction per request, committed once at the end."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# "function" scope: the transaction commits before the response is sent, so a client that
# got its 201 reads what it wrote, and a failed commit is an error response, not a lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _new_session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


async def session_opener() -> Sessions:
    """How a group commit (``batching``) opens a session of its own, for a route that needs
    no session of the request's: a coroutine, so asking for it costs no worker thread."""
    return _new_session


SessionOpener = Annotated[Sessions, Depends(session_opener)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


MISSING_CREDENTIALS = "missing credentials: send 'Authorization: Bearer <token>'"
NOT_LIVE = "invalid, expired or revoked token"


def _credentials(request: Request, session: Session) -> tuple[ApiToken, User]:
    secret = _bearer(request)
    if secret is None:
        raise _unauthorized(MISSING_CREDENTIALS)
    found = auth_service.live_credentials(session, secret=secret, kinds=BEARER_KINDS)
    if found is None:
        raise _unauthorized(NOT_LIVE)
    return found


async def bearer_secret(request: Request) -> str:
    """The request's bearer secret, not yet checked: for a route whose requests are taken in
    together (``batching``) and checked there, all in one statement (``admitted_users``),
    before anything is written. Refused at once when there is none."""
    secret = _bearer(request)
    if secret is None:
        raise _unauthorized(MISSING_CREDENTIALS)
    return secret


BearerSecret = Annotated[str, Depends(bearer_secret)]


def admitted_users(
    session: Session, *, secrets: Sequence[str], roles: Sequence[Role]
) -> list[User | HTTPException]:
    """For each bearer secret, in order, its user if ``allow(*roles)`` would let them in, or
    the refusal it would answer with (401 or 403)."""
    found = auth_service.live_credentials_many(session, secrets=secrets, kinds=BEARER_KINDS)
    admitted: list[User | HTTPException] = []
    for credentials in found:
        if credentials is None:
            admitted.append(_unauthorized(NOT_LIVE))
            continue
        try:
            admitted.append(ensure_role(credentials[1], *roles))
        except HTTPException as refusal:
            admitted.append(refusal)
    return admitted


def bearer_token(request: Request, session: SessionDep) -> ApiToken:
    return _credentials(request, session)[0]


BearerToken = Annotated[ApiToken, Depends(bearer_token)]


def current_user(request: Request, session: SessionDep) -> User:
    # The token and its user in one dependency and one statement: one worker-thread step and
    # one round trip, not two of each.
    return _credentials(request, session)[1]


def ensure_role(user: User, *roles: Role) -> User:
    """Admits the given roles (and admins); refuses everyone else with 403."""
    allowed = {Role.admin, *roles}
    if user.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not do this (allowed: {names})"
        )
    return user


def allow(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """A route dependency: the authenticated user, if their role is one of ``roles``."""

    # A coroutine: it only reads the user, so it needs no worker thread.
    async def guard(user: Annotated[User, Depends(current_user)]) -> User:
        return ensure_role(user, *roles)

    return guard


AnyUser = Annotated[User, Depends(allow(*Role))]
Admin = Annotated[User, Depends(allow())]
Manager = Annotated[User, Depends(allow(Role.duty_manager))]
Responder = Annotated[User, Depends(allow(Role.duty_manager, Role.responder, Role.comms))]
# Agents work the complaint queue; responders and duty managers may step in.
AGENT_ROLES = (Role.agent, Role.responder, Role.duty_manager)
Agent = Annotated[User, Depends(allow(*AGENT_ROLES))]
COMMS_ROLES = (Role.duty_manager, Role.comms)
Communicator = Annotated[User, Depends(allow(*COMMS_ROLES))]
# Whoever answers a customer looks them up (首问负责制: the first to take a complaint owns it);
# viewers never read the customer directory.
CUSTOMER_READER_ROLES = (Role.agent, Role.responder, *COMMS_ROLES)
CustomerReader = Annotated[User, Depends(allow(*CUSTOMER_READER_ROLES))]


def login_throttle(request: Request) -> LoginThrottle:
    """The application's failed-login counters (one per app, made when it is created)."""
    return request.app.state.login_throttle


def client_address(request: Request) -> str:
    # Behind a proxy, uvicorn's --forwarded-allow-ips makes this the forwarded address.
    return request.client.host if request.client else "unknown"


Throttle = Annotated[LoginThrottle, Depends(login_throttle)]
ClientAddress = Annotated[str, Depends(client_address)]
