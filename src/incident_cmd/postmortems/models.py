"""The post-incident review (问题复盘) of one incident, and the follow-up actions it agrees.

The review's checklist is not here: each item of the playbook's ``review:`` list becomes an
incident task marked ``review`` (incidents.models.IncidentTask), so the task overdue sweep
reminds its owner like any other task."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column


class Section(StrEnum):
    """The written parts of a review, in the order the page shows them."""

    summary = "summary"
    causes = "causes"  # causes and contributing factors
    went_well = "went_well"
    went_badly = "went_badly"
    lucky = "lucky"  # where we were lucky


class Review(SQLModel, table=True):
    __tablename__ = "postmortems"

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", unique=True)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    summary: str = ""
    causes: str = ""
    went_well: str = ""
    went_badly: str = ""
    lucky: str = ""
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    approved_by: int | None = Field(default=None, foreign_key="users.id")


class FollowUpState(StrEnum):
    open = "open"
    done = "done"


class FollowUp(SQLModel, table=True):
    """An action the review agreed, owned by one person. ``remind_at`` is the next moment the
    reminder sweep has work on it (the due time, then each working day after); None once
    done, so the sweep searches only that column."""

    __tablename__ = "postmortem_followups"
    __table_args__ = (Index("ix_followups_remind", "remind_at"),)

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    title: str = Field(max_length=500)
    owner_id: int = Field(foreign_key="users.id")
    due_on: date
    # The end of due_on in the organisation's time zone.
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    state: FollowUpState = enum_column(FollowUpState, default=FollowUpState.open)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    done_by: int | None = Field(default=None, foreign_key="users.id")
    remind_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reminders: int = 0
