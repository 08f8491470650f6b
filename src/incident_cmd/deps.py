"""Dependencies shared by every router: the request's session and its authenticated user."""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlmodel import Session

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.db import get_engine

SESSION_COOKIE = "icmd_session"


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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return None


def current_user(request: Request, session: SessionDep) -> User:
    secret = _bearer(request)
    if secret is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = auth_service.user_for_token(session, secret=secret)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid, expired or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


def ensure_role(user: User, *roles: Role) -> User:
    """Admits the given roles (and admins); refuses everyone else with 403."""
    allowed = {Role.admin, *roles}
    if user.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not do this (allowed: {names})"
        )
    return user


def allow(*roles: Role) -> Callable[[User], User]:
    """A route dependency: the authenticated user, if their role is one of ``roles``."""

    def guard(user: Annotated[User, Depends(current_user)]) -> User:
        return ensure_role(user, *roles)

    return guard


AnyUser = Annotated[User, Depends(allow(*Role))]
Admin = Annotated[User, Depends(allow())]
Manager = Annotated[User, Depends(allow(Role.duty_manager))]
Responder = Annotated[User, Depends(allow(Role.duty_manager, Role.responder, Role.comms))]
# Agents work the complaint queue; responders and duty managers may step in.
Agent = Annotated[User, Depends(allow(Role.agent, Role.responder, Role.duty_manager))]
COMMS_ROLES = (Role.duty_manager, Role.comms)
Communicator = Annotated[User, Depends(allow(*COMMS_ROLES))]
