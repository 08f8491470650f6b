from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime


class SituationReport(SQLModel, table=True):
    """One report on an incident, as compiled then: kept as it was sent. A scheduled report
    names its cadence step (``due_at``), unique per incident, so each step is compiled once
    across workers; one asked for on demand has none."""

    __tablename__ = "situation_reports"
    __table_args__ = (
        UniqueConstraint("incident_id", "number"),
        UniqueConstraint("incident_id", "due_at"),
    )

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    number: int
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    compiled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    requested_by: int | None = Field(default=None, foreign_key="users.id")
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
