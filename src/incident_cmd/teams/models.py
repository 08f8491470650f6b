from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column


class Team(SQLModel, table=True):
    __tablename__ = "teams"

    id: int = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    lead_user_id: int | None = Field(default=None, foreign_key="users.id")


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_members"

    team_id: int = Field(foreign_key="teams.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)


class ShiftLength(StrEnum):
    daily = "daily"
    weekly = "weekly"


class Rotation(SQLModel, table=True):
    """Members take turns in shifts that hand off at a wall-clock time in the team's zone."""

    __tablename__ = "rotations"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: int = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="teams.id", index=True)
    name: str = Field(max_length=64)
    shift: ShiftLength = enum_column(ShiftLength)
    handoff_time: str = Field(max_length=5)  # HH:MM in the team's time zone
    anchor_date: date  # the first shift (position 0) starts on this date at handoff_time


class RotationMember(SQLModel, table=True):
    __tablename__ = "rotation_members"

    rotation_id: int = Field(foreign_key="rotations.id", primary_key=True)
    position: int = Field(primary_key=True)
    user_id: int = Field(foreign_key="users.id")


class RotationOverride(SQLModel, table=True):
    """A swap: someone else covers the rotation for a period."""

    __tablename__ = "rotation_overrides"

    id: int = Field(default=None, primary_key=True)
    rotation_id: int = Field(foreign_key="rotations.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reason: str = ""
    created_by: int | None = Field(default=None, foreign_key="users.id")
