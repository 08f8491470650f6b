from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incident_cmd.fields import MAX_LIST_ITEMS, Flag, WholeNumber
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.playbooks.schema import PublicStatus


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    products: list[str] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    batches: list[str] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    regions: list[str] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)

    @field_validator("products", "batches", "regions")
    @classmethod
    def _clean(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            value = value.strip()
            if not value:
                raise ValueError("empty value")
            if len(value) > 100:
                raise ValueError(f"{value[:20]!r}… is longer than 100 characters")
            if value not in cleaned:
                cleaned.append(value)
        return cleaned


class IncidentDeclare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbook: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=300)
    severity: str = Field(min_length=1, max_length=32)
    scope: Scope = Field(default_factory=Scope)
    drill: Flag = False


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IncidentStatus
    note: str = Field(default="", max_length=2000)


class SeverityChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=2000)


class RoleAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64)
    slot: WholeNumber = Field(default=0, ge=0, le=100)
    user: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=2000)


class SeatPage(BaseModel):
    """A roster seat to page again."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64)
    slot: WholeNumber = Field(default=0, ge=0, le=100)


class ResponderAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="a playbook role to reinforce, or a name for an ad hoc role",
    )
    user: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=2000)
    page: Flag = True


class UpdatePost(BaseModel):
    """An update for the command center. What the public reads is a statement: drafted by the
    spokesperson, approved by a second person and published (/incidents/{id}/statements)."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=5000)


class TaskComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class RosterSeat(BaseModel):
    id: int
    role: str
    title: str
    title_i18n: dict[str, str]
    slot: int
    user: str | None
    state: Literal["assigned", "unfilled"]
    note: str
    page: bool
    assigned_at: datetime


class TaskRead(BaseModel):
    id: int
    key: str
    title: str
    title_i18n: dict[str, str]
    role: str
    depends_on: str | None
    due_at: datetime
    status: str
    overdue: bool
    completed_at: datetime | None
    completed_by: str | None


class IncidentSummary(BaseModel):
    id: int
    number: str
    title: str
    playbook: str
    kind: str
    severity: str
    status: IncidentStatus
    public_status: PublicStatus | None
    drill: bool
    declared_at: datetime
    scope: dict[str, Any]


class IncidentRead(IncidentSummary):
    playbook_hash: str
    declared_by: str
    respond_by: datetime
    resolve_by: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    allowed_transitions: list[IncidentStatus]
    roster: list[RosterSeat]
    tasks: list[TaskRead]


class IncidentPage(BaseModel):
    items: list[IncidentSummary]
    next_cursor: int | None


class TimelineEntry(BaseModel):
    id: int
    at: datetime
    actor: str | None
    kind: str
    summary: str
    public: bool
    data: dict[str, Any]
