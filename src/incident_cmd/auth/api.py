from datetime import timedelta

from fastapi import APIRouter, HTTPException, status

from incident_cmd.auth import service
from incident_cmd.auth.models import ApiToken, TokenKind, User
from incident_cmd.auth.schemas import (
    IssuedToken,
    LoginRequest,
    PasswordChange,
    TokenCreate,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from incident_cmd.auth.throttle import LoginThrottled
from incident_cmd.deps import (
    Admin,
    AnyUser,
    BearerToken,
    ClientAddress,
    Manager,
    SessionDep,
    Throttle,
)
from incident_cmd.errors import Forbidden, error_responses
from incident_cmd.fields import DbId

router = APIRouter(prefix="/api/v1", tags=["auth"])


def _token_read(token: ApiToken, secret: str | None = None) -> TokenRead:
    fields = token.model_dump(include=set(TokenRead.model_fields))
    return IssuedToken(**fields, token=secret) if secret else TokenRead(**fields)


def too_many_attempts(exc: LoginThrottled) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after)}
    )


@router.post(
    "/auth/login",
    response_model=IssuedToken,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 429),
)
def login(
    body: LoginRequest, session: SessionDep, throttle: Throttle, address: ClientAddress
) -> TokenRead:
    """Public: exchanges a username and password for a short-lived token, which may call the
    API but not issue tokens. Failed attempts are throttled per username and address (429)."""
    try:
        user = service.authenticate_throttled(
            session,
            throttle=throttle,
            username=body.username,
            password=body.password,
            address=address,
        )
    except LoginThrottled as exc:
        raise too_many_attempts(exc) from None
    token, secret = service.issue_token(
        session,
        user=user,
        name="login",
        kind=TokenKind.login,
        expires_in=service.login_token_lifetime(),
        actor_id=user.id,
    )
    return _token_read(token, secret)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(token: BearerToken, session: SessionDep) -> None:
    """Revokes the token this request was made with."""
    service.end_token(session, token=token, actor_id=token.user_id)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(429))
def change_password(
    body: PasswordChange,
    session: SessionDep,
    user: AnyUser,
    throttle: Throttle,
    address: ClientAddress,
) -> None:
    """Changes the caller's password and revokes all their tokens, this one included."""
    try:
        throttle.check(username=user.username, address=address)
    except LoginThrottled as exc:
        raise too_many_attempts(exc) from None
    try:
        service.change_own_password(
            session,
            user=user,
            current_password=body.current_password,
            new_password=body.new_password,
        )
    except Forbidden:
        throttle.failed(username=user.username, address=address)
        raise


@router.get("/me", response_model=UserRead)
def me(user: AnyUser) -> User:
    return user


@router.get("/users", response_model=list[UserRead])
def list_users(session: SessionDep, _: Manager) -> list[User]:
    return list(service.list_users(session))


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
def create_user(body: UserCreate, session: SessionDep, actor: Admin) -> User:
    return service.create_user(session, data=body, actor_id=actor.id)


@router.patch("/users/{username}", response_model=UserRead, responses=error_responses(409))
def update_user(username: str, body: UserUpdate, session: SessionDep, actor: Admin) -> User:
    """Deactivating a user revokes their tokens; the last active admin cannot be demoted or
    deactivated (409)."""
    user = service.get_user_by_username(session, username=username)
    return service.update_user(session, user=user, data=body, actor_id=actor.id)


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(session: SessionDep, user: AnyUser) -> list[TokenRead]:
    return [_token_read(token) for token in service.list_tokens(session, user=user)]


@router.post("/tokens", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
def issue_token(
    body: TokenCreate, session: SessionDep, user: AnyUser, minter: BearerToken
) -> TokenRead:
    """Only an API token may issue tokens (not one from login: 403), and never one that
    outlives itself: without ``expires_in_hours`` the new token ends when the caller's does;
    a longer lifetime than the caller's token has left is refused (422)."""
    expires_in = timedelta(hours=body.expires_in_hours) if body.expires_in_hours else None
    token, secret = service.mint_token(
        session, minter=minter, user=user, name=body.name, expires_in=expires_in
    )
    return _token_read(token, secret)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: DbId, session: SessionDep, user: AnyUser) -> TokenRead:
    return _token_read(service.revoke_token(session, token_id=token_id, actor=user))
