from datetime import timedelta

from fastapi import APIRouter, status

from incident_cmd.auth import service
from incident_cmd.auth.models import ApiToken, User
from incident_cmd.auth.schemas import (
    IssuedToken,
    LoginRequest,
    TokenCreate,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from incident_cmd.deps import Admin, AnyUser, Manager, SessionDep

router = APIRouter(prefix="/api/v1", tags=["auth"])


def _token_read(token: ApiToken, secret: str | None = None) -> TokenRead:
    fields = token.model_dump(include=set(TokenRead.model_fields))
    return IssuedToken(**fields, token=secret) if secret else TokenRead(**fields)


@router.post("/auth/login", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
def login(body: LoginRequest, session: SessionDep) -> TokenRead:
    """Public: exchanges a username and password for a short-lived token."""
    user = service.authenticate(session, username=body.username, password=body.password)
    token, secret = service.issue_token(
        session,
        user=user,
        name="login",
        expires_in=service.login_token_lifetime(),
        actor_id=user.id,
    )
    return _token_read(token, secret)


@router.get("/me", response_model=UserRead)
def me(user: AnyUser) -> User:
    return user


@router.get("/users", response_model=list[UserRead])
def list_users(session: SessionDep, _: Manager) -> list[User]:
    return list(service.list_users(session))


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, actor: Admin) -> User:
    return service.create_user(session, data=body, actor_id=actor.id)


@router.patch("/users/{username}", response_model=UserRead)
def update_user(username: str, body: UserUpdate, session: SessionDep, actor: Admin) -> User:
    user = service.get_user_by_username(session, username=username)
    return service.update_user(session, user=user, data=body, actor_id=actor.id)


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(session: SessionDep, user: AnyUser) -> list[TokenRead]:
    return [_token_read(token) for token in service.list_tokens(session, user=user)]


@router.post("/tokens", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
def issue_token(body: TokenCreate, session: SessionDep, user: AnyUser) -> TokenRead:
    expires_in = timedelta(hours=body.expires_in_hours) if body.expires_in_hours else None
    token, secret = service.issue_token(
        session, user=user, name=body.name, expires_in=expires_in, actor_id=user.id
    )
    return _token_read(token, secret)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: int, session: SessionDep, user: AnyUser) -> TokenRead:
    return _token_read(service.revoke_token(session, token_id=token_id, actor=user))
