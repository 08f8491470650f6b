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
    # The review meeting (复盘会): held before ``meeting_by`` (the end of the playbook's window
    # of working days after the resolution), at ``meeting_at`` once the commander or a duty
    # manager sets it. ``meeting_sets`` counts the times it was set, so each setting invites
    # once. ``meeting_sweep_at`` is the next moment the meeting sweep has work on it: the
    # window's end while unset (the duty managers are told), then the reminder before the
    # meeting; None once done.
    meeting_by: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    meeting_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    meeting_set_by: int | None = Field(default=None, foreign_key="users.id")
    meeting_sets: int = 0
    meeting_sweep_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )


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


class RevisionState(StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    rejected = "rejected"


class PlanRevision(SQLModel, table=True):
    """A change to a playbook that a finding of the review proposes (修订预案): the whole new
    file text, valid when proposed. The product never writes playbooks/: a person applies an
    accepted revision in git, from the diff against the file as it is then."""

    __tablename__ = "postmortem_plan_revisions"

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    playbook_key: str = Field(max_length=64)
    # The file in the playbook directory it revises, read again whenever the diff is shown.
    playbook_file: str = Field(max_length=255)
    finding: str = Field(max_length=2000)
    proposed_text: str
    state: RevisionState = enum_column(RevisionState, default=RevisionState.proposed)
    proposed_by: int = Field(foreign_key="users.id")
    proposed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    decision_note: str = Field(default="", max_length=2000)


class DrillRequestState(StrEnum):
    requested = "requested"
    scheduled = "scheduled"
    cancelled = "cancelled"


class DrillRequest(SQLModel, table=True):
    """A drill of a playbook that the review asks for (安排演练), for the drills to turn into a
    scheduled exercise (``service.open_drill_requests``, ``mark_drill_request_scheduled``)."""

    __tablename__ = "drill_requests"
    __table_args__ = (Index("ix_drill_requests_state", "state", "wanted_by"),)

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    playbook_key: str = Field(max_length=64)
    reason: str = Field(max_length=2000)
    wanted_by: date
    revision_id: int | None = Field(default=None, foreign_key="postmortem_plan_revisions.id")
    state: DrillRequestState = enum_column(DrillRequestState, default=DrillRequestState.requested)
    requested_by: int = Field(foreign_key="users.id")
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    scheduled_for: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    scheduled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancelled_by: int | None = Field(default=None, foreign_key="users.id")
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
