from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from incident_cmd.fields import Day, DbId
from incident_cmd.postmortems.models import (
    DrillRequestState,
    FollowUpState,
    RevisionState,
    Section,
)

SECTION_MAX = 20000


class SectionEdit(BaseModel):
    """The whole new text of one written section (empty clears it)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=SECTION_MAX)


class FollowUpCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    owner: str = Field(min_length=1, max_length=64, description="username of the owner")
    due_on: Day = Field(description="the last day, in the organisation's time zone")


class FollowUpDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class ApprovalNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class ChecklistItem(BaseModel):
    task_id: int
    key: str
    item: str
    item_i18n: dict[str, str]
    role: str
    owner: str | None = Field(description="who holds the item's role on the roster now")
    due_at: datetime
    done: bool
    overdue: bool
    completed_at: datetime | None
    completed_by: str | None


class FollowUpRead(BaseModel):
    id: int
    title: str
    owner: str
    due_on: date
    due_at: datetime
    state: FollowUpState
    overdue: bool
    reminders: int
    created_by: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None


class StarredEntry(BaseModel):
    id: int
    at: datetime
    kind: str
    summary: str
    actor: str | None


class SeatFigure(BaseModel):
    role: str
    slot: int
    seconds_to_ack: int | None
    target_seconds: int
    within_target: bool | None


class Rate(BaseModel):
    count: int
    rate: float | None = Field(description="count / messages, None when nothing was sent")


class HourCount(BaseModel):
    hour: datetime = Field(description="the start of the hour, UTC")
    count: int


class Figures(BaseModel):
    """Durations are seconds from the declaration (detection: from the first linked
    complaint to the declaration); None when the moment has not come."""

    first_complaint_at: datetime | None
    seconds_to_detect: int | None
    seats: list[SeatFigure]
    seconds_to_full_roster: int | None
    first_notice_at: datetime | None
    seconds_to_first_notice: int | None
    first_statement_at: datetime | None
    seconds_to_first_statement: int | None
    seconds_to_resolution: int | None
    messages: int = Field(description="messages of the incident's campaigns, suppressed too")
    delivered: Rate
    failed: Rate
    opted_out: Rate
    complaints: int
    complaint_curve: list[HourCount]
    sla_targets_decided: int
    sla_targets_met: int
    sla_attainment: float | None
    compensation_tickets: int
    compensation_total: float


# --- the review meeting, plan revisions and drill requests -----------------------------------

PLAYBOOK_TEXT_MAX = 200_000


class MeetingSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meeting_at: AwareDatetime = Field(description="when the review meeting (复盘会) is held")


class MeetingRead(BaseModel):
    within_working_days: int = Field(description="the playbook's window after the resolution")
    by: datetime | None = Field(description="the meeting is held before this moment")
    at: datetime | None
    set_by: str | None
    late: bool = Field(description="the window ended with no meeting set")
    attendees: list[str] = Field(description="the roster, invited when the meeting is set")


class PlanRevisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbook: str = Field(min_length=1, max_length=64, description="the playbook's key")
    finding: str = Field(min_length=1, max_length=2000, description="what the review found")
    text: str = Field(
        min_length=1, max_length=PLAYBOOK_TEXT_MAX, description="the whole proposed YAML file"
    )


class RevisionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class PlanRevisionRead(BaseModel):
    id: int
    playbook: str
    file: str
    finding: str
    state: RevisionState
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    diff: str = Field(description="unified diff against the playbook file as it is now")
    text: str


class DrillRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbook: str | None = Field(
        default=None, max_length=64, description="the incident's playbook when not given"
    )
    reason: str = Field(min_length=1, max_length=2000)
    wanted_by: Day = Field(description="the drill is wanted by this day (organisation's zone)")
    revision: DbId | None = Field(default=None, description="an accepted plan revision to drill")


class DrillRequestRead(BaseModel):
    id: int
    incident_id: int
    playbook: str
    reason: str
    wanted_by: date
    revision: int | None
    state: DrillRequestState
    requested_by: str
    requested_at: datetime
    scheduled_for: datetime | None


class ReviewRead(BaseModel):
    incident_id: int
    number: str
    status: str
    started_at: datetime
    sections: dict[Section, str]
    checklist: list[ChecklistItem]
    checklist_complete: bool
    approved_at: datetime | None
    approved_by: str | None
    closable: bool
    missing: list[str] = Field(description="what closing still waits for")
    starred: list[StarredEntry]
    followups: list[FollowUpRead]
    figures: Figures
    meeting: MeetingRead
    revisions: list[PlanRevisionRead]
    drill_requests: list[DrillRequestRead]


# --- the quarterly review meeting (售后复盘会) ------------------------------------------------


class QuarterIncident(BaseModel):
    id: int
    number: str
    title: str
    kind: str
    playbook: str
    severity: str
    status: str
    declared_at: datetime
    month: str = Field(description="YYYY-MM of the declaration, in the organisation's zone")
    cause_tags: list[str]


class MonthFigures(BaseModel):
    """One month of the quarter. Times are medians over the month's incidents that reached
    the moment (acknowledgement: over every acknowledged seat of them), so one long incident
    does not stand for the rest; rates are pooled over all their messages and targets."""

    month: str
    incidents: int
    seconds_to_detect: int | None
    seconds_to_ack: int | None
    seconds_to_full_roster: int | None
    seconds_to_first_notice: int | None
    seconds_to_first_statement: int | None
    seconds_to_resolution: int | None
    messages: int
    delivered: Rate
    failed: Rate
    opted_out: Rate
    complaints: int
    sla_targets_decided: int
    sla_targets_met: int
    sla_attainment: float | None
    compensation_total: float


class OpenFollowUp(BaseModel):
    incident_id: int
    number: str
    title: str
    owner: str
    due_on: date
    overdue: bool


class CauseGroup(BaseModel):
    key: str = Field(description="an incident kind, or a cause tag written in the review")
    incidents: list[str] = Field(description="their numbers, in the order declared")


class Quarterly(BaseModel):
    quarter: str
    starts_at: datetime
    ends_at: datetime
    incidents: list[QuarterIncident] = Field(description="drills left out")
    drills_excluded: int
    by_kind: dict[str, int]
    by_severity: dict[str, int]
    months: list[MonthFigures]
    open_followups: list[OpenFollowUp]
    causes_by_kind: list[CauseGroup]
    cause_tags: list[CauseGroup]
    untagged: list[str] = Field(description="incidents whose review names no cause tag")
