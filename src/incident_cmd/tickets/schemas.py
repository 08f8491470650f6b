from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from incident_cmd.auth.schemas import Phone
from incident_cmd.customers.models import NAME_MAX_LENGTH
from incident_cmd.fields import Amount, WholeNumber
from incident_cmd.i18n import Locale
from incident_cmd.tickets.models import (
    BreachState,
    IntakeChannel,
    SignalStatus,
    TicketStatus,
    TimerKind,
)
from incident_cmd.tickets.policy import Category, Priority

Request = Literal["return", "exchange", "repair", "refund", "compensation", "information"]


class TicketCreate(BaseModel):
    """The intake form (seeds 001: who, how to reach them, what, which product, what they
    ask for). Category and priority are worked out from the text when not given."""

    model_config = ConfigDict(extra="forbid")

    customer_name: str | None = Field(default=None, max_length=NAME_MAX_LENGTH)
    phone: Phone | None = None
    email: EmailStr | None = None
    locale: Locale | None = None
    channel: IntakeChannel
    category: Category | None = None
    priority: Priority | None = None
    product_model: str | None = Field(default=None, max_length=100)
    batch: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    purchase_channel: str | None = Field(default=None, max_length=100)
    description: str = Field(min_length=1, max_length=10000)
    requested: Request = "information"

    @model_validator(mode="after")
    def _reachable(self) -> "TicketCreate":
        if not self.phone and not self.email:
            raise ValueError("give the customer's phone or email")
        return self


class TicketAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus
    note: str = Field(default="", max_length=5000)


class TicketResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: str = Field(min_length=1, max_length=5000)
    responsible_department: str | None = Field(default=None, max_length=100)
    compensation_amount: Amount | None = None


class TicketAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str


class TicketReopen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=5000)


class SurveyAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csat: WholeNumber | None = Field(default=None, ge=1, le=5)
    nps: WholeNumber | None = Field(default=None, ge=0, le=10)
    comment: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _something(self) -> "SurveyAnswer":
        if self.csat is None and self.nps is None:
            raise ValueError("give csat (1-5) or nps (0-10)")
        return self


class SurveyEntry(SurveyAnswer):
    """A customer's answer given by phone or letter, entered by a supervisor."""

    reason: str = Field(min_length=1, max_length=2000)


class TaskDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=5000)


class TicketVerification(BaseModel):
    """The initial verification (seeds 001 初步核实): whether the complaint is substantiated,
    and what was checked."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["substantiated", "not_substantiated"]
    note: str = Field(min_length=1, max_length=5000)


class TicketPlan(BaseModel):
    """The handling plan; ``resolve_by``, when it cannot be solved at once, is the date the
    customer is told it will be (seeds 001 告知用户解决方案的时间表)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=5000)
    resolve_by: date | None = None


class TimerRead(BaseModel):
    kind: TimerKind
    clock: str
    due_at: datetime
    stage: str
    paused: bool
    met_at: datetime | None
    met_in_time: bool | None


class TaskRead(BaseModel):
    id: int
    key: str
    owner: str | None
    due_at: datetime
    done_at: datetime | None
    overdue: bool


class TicketSummary(BaseModel):
    id: int
    number: str
    status: TicketStatus
    priority: str
    category: str
    safety: bool
    product_model: str | None
    batch: str | None
    region: str | None
    assignee: str | None
    breach_state: BreachState
    incident_id: int | None
    created_at: datetime


class TicketRead(TicketSummary):
    customer_id: int
    contact: str
    channel: IntakeChannel
    purchase_channel: str | None
    description: str
    requested: str
    team: str
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    responsible_department: str | None
    compensation_amount: float | None
    csat: int | None
    nps: int | None
    timers: list[TimerRead]
    tasks: list[TaskRead]


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: int | None


class SignalRead(BaseModel):
    id: int
    playbook: str
    trigger: str
    dimension: str
    scope: dict
    count: int
    baseline: float | None
    window_seconds: int
    status: SignalStatus
    raised_at: datetime
    incident_id: int | None
    reason: str | None
    tickets: list[TicketSummary]
    counts_by_hour: dict[str, int]


class SignalDeclare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: str = Field(min_length=1, max_length=32)
    title: str | None = Field(default=None, max_length=300)


class SignalDismiss(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class ReviewNoteKind(StrEnum):
    lesson = "lesson"
    proposal = "proposal"


class ReviewNoteCreate(BaseModel):
    """A lesson or an improvement proposal the reviewer writes into the monthly review."""

    model_config = ConfigDict(extra="forbid")

    kind: ReviewNoteKind
    text: str = Field(min_length=1, max_length=2000)


class ReviewNoteRead(BaseModel):
    kind: ReviewNoteKind
    text: str
    by: str | None
    at: datetime


class ReviewSent(BaseModel):
    at: datetime
    by: str | None
    recipients: list[str]
    not_reached: list[str]
