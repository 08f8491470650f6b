from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.i18n import Locale


class Role(StrEnum):
    admin = "admin"
    duty_manager = "duty_manager"
    responder = "responder"
    agent = "agent"
    comms = "comms"
    viewer = "viewer"


# 保密原则：对客户信息进行保密，保护客户隐私 (002): a customer's phone and email are read only by
# those who answer and call customers back (any agent may be the first contact, 首问负责制)
# and by those who oversee them. Responders, communications staff and viewers work from the
# complaint, never the contact: they read it masked.
CONTACT_READERS = frozenset({Role.agent, Role.duty_manager, Role.admin})


def reads_contact_details(user: "User") -> bool:
    return user.role in CONTACT_READERS


class TokenKind(StrEnum):
    """Where a token was issued, and so where it is accepted."""

    api = "api"  # issued by `token issue` or POST /tokens: a Bearer token that may mint others
    login = "login"  # issued by POST /auth/login: a Bearer token that may not mint others
    session = "session"  # the page cookie: never accepted as a Bearer token


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=200)
    role: Role = enum_column(Role, length=32)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    timezone: str = Field(max_length=64)
    locale: Locale = enum_column(Locale)
    contact_policy: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    password_hash: str | None = None
    active: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: int | None = Field(default=None, foreign_key="users.id")


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    kind: TokenKind = enum_column(TokenKind)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
