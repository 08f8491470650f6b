from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.playbooks.schema import PublicStatus

# How an incident is named on the timeline.
SUBJECT = "incident"


class IncidentStatus(StrEnum):
    declared = "declared"
    active = "active"
    stabilized = "stabilized"
    resolved = "resolved"
    in_review = "in_review"
    closed = "closed"


# Reopening is allowed until the review has closed the incident; a closed incident can only
# go back to review (a new occurrence is a new incident).
TRANSITIONS: dict[IncidentStatus, tuple[IncidentStatus, ...]] = {
    IncidentStatus.declared: (IncidentStatus.active, IncidentStatus.resolved),
    IncidentStatus.active: (IncidentStatus.stabilized, IncidentStatus.resolved),
    IncidentStatus.stabilized: (IncidentStatus.active, IncidentStatus.resolved),
    IncidentStatus.resolved: (IncidentStatus.in_review, IncidentStatus.active),
    IncidentStatus.in_review: (IncidentStatus.closed, IncidentStatus.active),
    IncidentStatus.closed: (IncidentStatus.in_review,),
}

OPEN_STATUSES = (IncidentStatus.declared, IncidentStatus.active, IncidentStatus.stabilized)


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_id", "status", "id"),)

    id: int = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    title: str = Field(max_length=300)
    playbook_key: str = Field(max_length=64)
    playbook_hash: str = Field(foreign_key="playbook_versions.content_hash", max_length=64)
    kind: str = Field(max_length=32, index=True)
    severity: str = Field(max_length=32)
    status: IncidentStatus = enum_column(IncidentStatus)
    public_status: PublicStatus | None = enum_column(PublicStatus, default=None)
    scope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    drill: bool = False
    declared_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    declared_by: int = Field(foreign_key="users.id")
    respond_by: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resolve_by: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class TaskStatus(StrEnum):
    open = "open"
    done = "done"


class AssignmentState(StrEnum):
    assigned = "assigned"
    unfilled = "unfilled"
    relieved = "relieved"


class RosterAssignment(SQLModel, table=True):
    """One seat of a command-center role. A handover relieves the row and adds a new one."""

    __tablename__ = "roster_assignments"
    __table_args__ = (Index("ix_roster_incident_role", "incident_id", "role_key", "slot"),)

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    role_key: str = Field(max_length=64)
    slot: int = 0
    user_id: int | None = Field(default=None, foreign_key="users.id")
    state: AssignmentState = enum_column(AssignmentState)
    note: str = ""
    assigned_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    relieved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class IncidentTask(SQLModel, table=True):
    __tablename__ = "incident_tasks"
    __table_args__ = (
        UniqueConstraint("incident_id", "key"),
        Index("ix_tasks_open_due", "status", "overdue_at", "due_at"),
    )

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    key: str = Field(max_length=64)
    title: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    role_key: str = Field(max_length=64)
    depends_on: str | None = Field(default=None, max_length=64)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: TaskStatus = enum_column(TaskStatus, default=TaskStatus.open)
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    completed_by: int | None = Field(default=None, foreign_key="users.id")
    overdue_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # An item of the playbook's review checklist (postmortems), created on resolution.
    review: bool = False
