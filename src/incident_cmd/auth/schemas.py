from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from incident_cmd.auth.models import Role
from incident_cmd.config import get_settings
from incident_cmd.fields import Flag, WholeNumber
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName


def normalise_phone(value: str) -> str:
    """E.164, with the organisation's default region for numbers written without +CC.
    Letters are refused: the parser would read them as keypad digits (ABCD as 2223), and a
    stranger's number would get the messages."""
    if any(char.isalpha() for char in value):
        raise ValueError(f"not a phone number: {value!r} has letters in it")
    try:
        number = phonenumbers.parse(value, get_settings().default_phone_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {value!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


Phone = Annotated[str, AfterValidator(normalise_phone)]
TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
Username = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class ContactStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelName
    wait_minutes: WholeNumber = Field(default=0, ge=0, le=240)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    display_name: str | None = Field(default=None, max_length=200)
    role: Role
    email: EmailStr | None = None
    phone: Phone | None = None
    timezone: TimeZoneName | None = None
    locale: Locale | None = None
    contact_policy: list[ContactStep] | None = Field(default=None, max_length=10)
    password: str | None = Field(default=None, min_length=10, max_length=200)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    timezone: TimeZoneName | None = None
    locale: Locale | None = None
    contact_policy: list[ContactStep] | None = Field(default=None, max_length=10)
    active: Flag | None = None


class UserRead(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    email: str | None
    phone: str | None
    timezone: str
    locale: Locale
    contact_policy: list[ContactStep]
    active: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    expires_in_hours: WholeNumber | None = Field(default=None, ge=1, le=24 * 366)


class TokenRead(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedToken(TokenRead):
    token: str = Field(description="Shown once; only its hash is stored")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=200)
    new_password: str = Field(min_length=10, max_length=200)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=200)
    # Bounded: hashing a megabyte of "password" is a cheap way to burn a server's CPU.
    password: str = Field(max_length=1024)
