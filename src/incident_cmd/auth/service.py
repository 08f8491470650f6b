import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import ApiToken, Role, TokenKind, User
from incident_cmd.auth.schemas import UserCreate, UserUpdate
from incident_cmd.auth.throttle import LoginThrottle
from incident_cmd.config import get_settings
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from incident_cmd.timeline import service as timeline

TOKEN_PREFIX = "icmd_"
# Recording every request's use would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))


def _passwords() -> PasswordHash:
    settings = get_settings()
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def get_user_by_username(session: Session, *, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.exec(select(User).order_by(User.username)).all()


def create_user(session: Session, *, data: UserCreate, actor_id: int | None) -> User:
    settings = get_settings()
    if session.exec(select(User.id).where(User.username == data.username)).first():
        raise Conflict(f"user {data.username!r} already exists", field="username")
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        role=data.role,
        email=data.email,
        phone=data.phone,
        timezone=data.timezone or settings.default_timezone,
        locale=data.locale or settings.default_locale,
        contact_policy=[step.model_dump() for step in data.contact_policy or []],
        password_hash=_passwords().hash(data.password) if data.password else None,
        created_at=clock.now(),
        created_by=actor_id,
    )
    session.add(user)
    session.flush()
    timeline.append(
        session,
        subject_type="user",
        subject_id=user.id,
        kind="user.created",
        summary=f"user {user.username} created with role {user.role}",
        actor_id=actor_id,
    )
    return user


def update_user(session: Session, *, user: User, data: UserUpdate, actor_id: int | None) -> User:
    changes = data.model_dump(exclude_unset=True)
    if "contact_policy" in changes and changes["contact_policy"] is not None:
        changes["contact_policy"] = [step.model_dump() for step in data.contact_policy or []]
    for name, value in changes.items():
        if value is None and name not in ("email", "phone"):
            raise Invalid("may not be null", field=name)
    _keep_an_active_admin(session, user=user, changes=changes)
    deactivated = user.active and changes.get("active") is False
    for name, value in changes.items():
        setattr(user, name, value)
    session.add(user)
    if deactivated:
        # Reactivating the user later must not bring these back.
        revoke_user_tokens(session, user=user, reason="user deactivated", actor_id=actor_id)
    timeline.append(
        session,
        subject_type="user",
        subject_id=user.id,
        kind="user.updated",
        summary=f"user {user.username} updated: {', '.join(sorted(changes)) or 'nothing'}",
        actor_id=actor_id,
        data={"fields": sorted(changes)},
    )
    return user


def _keep_an_active_admin(session: Session, *, user: User, changes: dict) -> None:
    """Refuses a change that would leave no active admin: nobody could manage users again."""
    stays_admin = changes.get("role", user.role) == Role.admin
    stays_active = changes.get("active", user.active)
    if user.role != Role.admin or not user.active or (stays_admin and stays_active):
        return
    # Locking the active admins' rows makes two admins demoting each other at once wait for
    # each other; the second then counts what the first left.
    admins = session.exec(
        select(User.id).where(User.role == Role.admin, col(User.active)).with_for_update()
    ).all()
    if set(admins) - {user.id}:
        return
    field = "role" if not stays_admin else "active"
    raise Conflict(
        f"{user.username!r} is the last active admin; make another user admin first",
        field=field,
    )


def set_password(session: Session, *, user: User, password: str, actor_id: int | None) -> None:
    """Sets the password and revokes every token of the user: whoever had them must log in."""
    if len(password) < 10:
        raise Invalid("must be at least 10 characters", field="password")
    user.password_hash = _passwords().hash(password)
    session.add(user)
    timeline.append(
        session,
        subject_type="user",
        subject_id=user.id,
        kind="user.password_set",
        summary=f"password set for {user.username}",
        actor_id=actor_id,
    )
    revoke_user_tokens(session, user=user, reason="password changed", actor_id=actor_id)


def change_own_password(
    session: Session, *, user: User, current_password: str, new_password: str
) -> None:
    if not user.password_hash or not _passwords().verify(current_password, user.password_hash):
        raise Forbidden("the current password is wrong", field="current_password")
    set_password(session, user=user, password=new_password, actor_id=user.id)


def authenticate(session: Session, *, username: str, password: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active or not user.password_hash:
        # Hash anyway so that an unknown name costs as long as a wrong password.
        _passwords().verify(password, _dummy_hash())
        raise Unauthorized("wrong username or password")
    if not _passwords().verify(password, user.password_hash):
        raise Unauthorized("wrong username or password")
    return user


def authenticate_throttled(
    session: Session, *, throttle: LoginThrottle, username: str, password: str, address: str
) -> User:
    """authenticate, unless the name or the address has failed too often (LoginThrottled,
    raised before any hash is computed); failures count against both."""
    throttle.check(username=username, address=address)
    try:
        user = authenticate(session, username=username, password=password)
    except Unauthorized:
        throttle.failed(username=username, address=address)
        raise
    throttle.succeeded(username=username)
    return user


def _dummy_hash() -> str:
    settings = get_settings()
    return _dummy_hash_for(settings.argon2_time_cost, settings.argon2_memory_kib)


@lru_cache(maxsize=4)
def _dummy_hash_for(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash("not-a-real-password")


def issue_token(
    session: Session,
    *,
    user: User,
    name: str,
    expires_in: timedelta | None,
    actor_id: int | None,
    kind: TokenKind = TokenKind.api,
) -> tuple[ApiToken, str]:
    """Returns the stored token and its secret; the secret is never stored or shown again."""
    if not user.active:
        raise Invalid(f"user {user.username!r} is deactivated", field="username")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    token = ApiToken(
        user_id=user.id,
        name=name,
        kind=kind,
        token_hash=hash_token(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
    )
    session.add(token)
    session.flush()
    timeline.append(
        session,
        subject_type="user",
        subject_id=user.id,
        kind="token.issued",
        summary=f"token {name!r} ({token.prefix}…) issued",
        actor_id=actor_id,
        data={"token_id": token.id},
    )
    return token, secret


def mint_token(
    session: Session, *, minter: ApiToken, user: User, name: str, expires_in: timedelta | None
) -> tuple[ApiToken, str]:
    """A token issued with another token: never one that outlives it. Without a lifetime it
    ends when the minting token does; a longer lifetime than the minter has left is refused."""
    if minter.kind != TokenKind.api:
        raise Forbidden(
            "a token issued at login cannot issue tokens; use an API token "
            "(incident-cmd token issue) or ask an admin"
        )
    if minter.expires_at is not None:
        left = minter.expires_at - clock.now()
        if expires_in is None:
            expires_in = left
        elif expires_in > left:
            raise Invalid(
                f"may not outlive the token issuing it, which expires at "
                f"{minter.expires_at.isoformat()}",
                field="expires_in_hours",
            )
    return issue_token(session, user=user, name=name, expires_in=expires_in, actor_id=user.id)


def list_tokens(session: Session, *, user: User) -> Sequence[ApiToken]:
    return session.exec(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(col(ApiToken.id))
    ).all()


def revoke_token(session: Session, *, token_id: int, actor: User) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and actor.role != Role.admin):
        raise NotFound(f"no token with id {token_id}")
    end_token(session, token=token, actor_id=actor.id)
    return token


def end_token(session: Session, *, token: ApiToken, actor_id: int | None) -> None:
    """Revokes one token (a logout, or a revocation); revoking twice changes nothing."""
    if token.revoked_at is not None:
        return
    token.revoked_at = clock.now()
    session.add(token)
    timeline.append(
        session,
        subject_type="user",
        subject_id=token.user_id,
        kind="token.revoked",
        summary=f"token {token.name!r} ({token.prefix}…) revoked",
        actor_id=actor_id,
        data={"token_id": token.id},
    )


def revoke_user_tokens(session: Session, *, user: User, reason: str, actor_id: int | None) -> None:
    """Revokes every live token of the user (API tokens, logins and page sessions)."""
    live = session.exec(
        select(ApiToken).where(ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None))
    ).all()
    if not live:
        return
    now = clock.now()
    for token in live:
        token.revoked_at = now
        session.add(token)
    timeline.append(
        session,
        subject_type="user",
        subject_id=user.id,
        kind="token.revoked_all",
        summary=f"{len(live)} token(s) of {user.username} revoked: {reason}",
        actor_id=actor_id,
        data={"token_ids": [token.id for token in live], "reason": reason},
    )


def live_token(session: Session, *, secret: str, kinds: Iterable[TokenKind]) -> ApiToken | None:
    """The token with this secret if it is of one of ``kinds``, not revoked, not expired, and
    its user is active; records its use (at most once a minute)."""
    found = live_credentials(session, secret=secret, kinds=kinds)
    return found[0] if found else None


def live_credentials(
    session: Session, *, secret: str, kinds: Iterable[TokenKind]
) -> tuple[ApiToken, User] | None:
    """``live_token`` and its user, read together: every API request asks, and a round trip
    is most of what asking costs (the session holds its rows only while something refers to
    them, so the user read here is gone by the time a second lookup asks for it). Nothing is
    cached across requests: a revoked token fails at once."""
    [found] = live_credentials_many(session, secrets=[secret], kinds=kinds)
    return found


def live_credentials_many(
    session: Session, *, secrets: Sequence[str], kinds: Iterable[TokenKind]
) -> list[tuple[ApiToken, User] | None]:
    """``live_credentials`` of each secret, in order, read in one statement: for requests
    taken in together (``batching``)."""
    hashes = [hash_token(secret) for secret in secrets]
    rows = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(col(ApiToken.token_hash).in_(set(hashes)))
    ).all()
    by_hash = {token.token_hash: (token, user) for token, user in rows}
    now = clock.now()
    allowed = set(kinds)
    found: list[tuple[ApiToken, User] | None] = []
    for token_hash in hashes:
        credentials = by_hash.get(token_hash)
        if credentials is None or not _live(credentials, allowed, now):
            found.append(None)
            continue
        token = credentials[0]
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            token.last_used_at = now
            session.add(token)
        found.append(credentials)
    return found


def _live(credentials: tuple[ApiToken, User], kinds: set[TokenKind], now: datetime) -> bool:
    token, user = credentials
    if token.revoked_at is not None or token.kind not in kinds:
        return False
    if token.expires_at is not None and token.expires_at <= now:
        return False
    return user.active


def login_token_lifetime() -> timedelta:
    return timedelta(hours=get_settings().login_token_hours)


class Usernames(dict[int, str]):
    """Usernames by id."""

    def of(self, user_id: int | None) -> str | None:
        """The username, or None for no user (a nullable reference) or an unknown id."""
        return None if user_id is None else self.get(user_id)


def usernames(session: Session, *, ids: Iterable[int | None]) -> Usernames:
    """Usernames by id for the given ids (None and unknown ids are left out)."""
    wanted = {user_id for user_id in ids if user_id is not None}
    if not wanted:
        return Usernames()
    query = select(User.id, User.username).where(col(User.id).in_(wanted))
    return Usernames(session.exec(query).all())
