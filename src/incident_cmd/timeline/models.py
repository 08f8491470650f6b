from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime


class TimelineEvent(SQLModel, table=True):
    """Append-only record of every state change, for incidents and every other subject."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_subject", "subject_type", "subject_id", "id"),)

    id: int = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=32)
    subject_id: int
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    kind: str = Field(max_length=64)
    summary: str
    public: bool = False
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TimelineStar(SQLModel, table=True):
    """A timeline entry marked for the post-incident review. The entry itself is append-only,
    so the mark lives beside it and can be taken back."""

    __tablename__ = "timeline_stars"

    id: int = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="timeline_events.id", unique=True)
    starred_by: int = Field(foreign_key="users.id")
    starred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
