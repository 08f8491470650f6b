from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from incident_cmd.auth.schemas import TimeZoneName, Username
from incident_cmd.config import CLOCK_TIME
from incident_cmd.fields import MAX_LIST_ITEMS, Day, Moment
from incident_cmd.teams.models import ShiftLength


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName | None = None
    lead: Username | None = None
    members: list[Username] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)


class TeamUpdate(BaseModel):
    """What a team's edit changes; a field left out stays. ``lead`` given as null clears it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: TimeZoneName | None = None
    lead: Username | None = None


class MemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: Username


class RotationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    shift: ShiftLength
    handoff_time: str = Field(pattern=CLOCK_TIME, examples=["09:00"])
    anchor_date: Day
    members: list[Username] = Field(min_length=1, max_length=MAX_LIST_ITEMS)


class RotationUpdate(BaseModel):
    """What a rotation's edit changes; a field left out stays. ``members`` replaces the order
    of turns entirely."""

    model_config = ConfigDict(extra="forbid")

    shift: ShiftLength | None = None
    handoff_time: str | None = Field(default=None, pattern=CLOCK_TIME, examples=["09:00"])
    anchor_date: Day | None = None
    members: list[Username] | None = Field(default=None, min_length=1, max_length=MAX_LIST_ITEMS)


class OverrideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: Username
    starts_at: Moment
    ends_at: Moment
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _ends_after_start(self) -> "OverrideCreate":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class RotationRead(BaseModel):
    id: int
    name: str
    shift: ShiftLength
    handoff_time: str
    anchor_date: date
    members: list[str]


class TeamRead(BaseModel):
    id: int
    key: str
    name: str
    timezone: str
    lead: str | None
    members: list[str]
    rotations: list[RotationRead]


class OnCallRead(BaseModel):
    team: str
    rotation: str
    user: str
    source: Literal["rotation", "override"]
    shift_start: datetime
    shift_end: datetime
