"""A drill run: one exercise of a scenario, on a drill incident of its own, and its injects,
each a row with a due time the inject sweep claims (so a restart loses none and two workers
never fire one twice)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column

# How a run is named on the timeline.
SUBJECT = "drill"


class RunState(StrEnum):
    running = "running"
    paused = "paused"
    ended = "ended"


class DrillRun(SQLModel, table=True):
    __tablename__ = "drill_runs"

    id: int = Field(default=None, primary_key=True)
    scenario_key: str = Field(max_length=64, index=True)
    # The scenario as it was started (the file may change later): its objectives with their
    # targets are what the run is scored against.
    scenario: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    objectives: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    incident_id: int = Field(foreign_key="incidents.id", unique=True)
    state: RunState = enum_column(RunState)
    controller_id: int = Field(foreign_key="users.id")
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    paused_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    paused_seconds: int = 0
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The seats the scenario made unreachable so far (role keys).
    unresponsive: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class InjectState(StrEnum):
    pending = "pending"
    firing = "firing"  # a complaint wave part-way through its spread
    fired = "fired"
    cancelled = "cancelled"  # the drill ended first


class DrillInject(SQLModel, table=True):
    __tablename__ = "drill_injects"
    __table_args__ = (
        UniqueConstraint("run_id", "key"),
        Index("ix_drill_injects_state_due", "state", "due_at"),
    )

    id: int = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="drill_runs.id", index=True)
    key: str = Field(max_length=64)
    position: int
    offset_minutes: int
    # When it (or a wave's next complaint) is due; moved on by a pause.
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    state: InjectState = enum_column(InjectState)
    fired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    fired_by: int | None = Field(default=None, foreign_key="users.id")
    # A complaint wave's complaints made so far.
    done: int = 0


class ScheduleState(StrEnum):
    scheduled = "scheduled"
    started = "started"
    cancelled = "cancelled"


class DrillSchedule(SQLModel, table=True):
    """A drill on the calendar: a scenario, a time, its controller and the people it trains.
    The cadence job makes one per scenario and ``occurrence`` (the period it falls in, such as
    ``2026-07``), which the unique key lets two workers make only once; a duty manager makes
    others by hand (no occurrence), some for a review's drill request."""

    __tablename__ = "drill_schedules"
    __table_args__ = (
        UniqueConstraint("scenario_key", "occurrence"),
        Index("ix_drill_schedules_state_remind", "state", "remind_at"),
    )

    id: int = Field(default=None, primary_key=True)
    scenario_key: str = Field(max_length=64, index=True)
    occurrence: str | None = Field(default=None, max_length=16)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    controller_id: int | None = Field(default=None, foreign_key="users.id")
    participants: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    request_id: int | None = Field(default=None, foreign_key="drill_requests.id")
    state: ScheduleState = enum_column(ScheduleState, default=ScheduleState.scheduled)
    # The next reminder's moment for the current time (moved with it); None when none is left.
    remind_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    run_id: int | None = Field(default=None, foreign_key="drill_runs.id")
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    cancelled_by: int | None = Field(default=None, foreign_key="users.id")
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
