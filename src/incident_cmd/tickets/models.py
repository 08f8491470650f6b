from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import AutoString, Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.tickets.policy import Category, Priority


class TicketStatus(StrEnum):
    new = "new"
    acknowledged = "acknowledged"  # the first response was given
    in_progress = "in_progress"
    waiting_customer = "waiting_customer"  # SLA clocks stop
    resolved = "resolved"
    closed = "closed"


OPEN_TICKET_STATUSES = (
    TicketStatus.new,
    TicketStatus.acknowledged,
    TicketStatus.in_progress,
    TicketStatus.waiting_customer,
)

TICKET_TRANSITIONS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    TicketStatus.new: (TicketStatus.acknowledged, TicketStatus.in_progress, TicketStatus.resolved),
    TicketStatus.acknowledged: (
        TicketStatus.in_progress,
        TicketStatus.waiting_customer,
        TicketStatus.resolved,
    ),
    TicketStatus.in_progress: (TicketStatus.waiting_customer, TicketStatus.resolved),
    TicketStatus.waiting_customer: (TicketStatus.in_progress, TicketStatus.resolved),
    # Reopening has its own action, within its window; an appeal is a record of its own
    # (tickets.appeals) and leaves the ticket's status as it is.
    TicketStatus.resolved: (TicketStatus.closed,),
    TicketStatus.closed: (),
}


class IntakeChannel(StrEnum):
    """How the customer reached us; not a channel we send on (see ChannelName)."""

    phone = "phone"
    email = "email"
    web = "web"
    sms = "sms"
    social = "social"
    walk_in = "walk_in"


class BreachState(StrEnum):
    """The worst any of a ticket's SLA targets has come to."""

    ok = "ok"
    warning = "warning"
    breached = "breached"


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        # The queue's views: by status, by assignee, by product and batch, newest first.
        Index("ix_tickets_status_priority_id", "status", "priority", "id"),
        Index("ix_tickets_assignee_status_id", "assignee_id", "status", "id"),
        Index("ix_tickets_product_batch_created", "product_model", "batch", "created_at"),
        Index("ix_tickets_region_created", "region", "created_at"),
        Index("ix_tickets_category_created", "category", "created_at"),
        Index("ix_tickets_created", "created_at"),
    )

    id: int = Field(default=None, primary_key=True)
    # Set at the end of the intake transaction (see tickets.intake).
    number: str | None = Field(default=None, max_length=32, unique=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    contact: str = Field(max_length=320)  # phone (E.164) or email the customer used
    channel: IntakeChannel = enum_column(IntakeChannel, length=16)
    # Literal types, which SQLModel cannot map by itself: the column stays a plain string.
    category: Category = Field(sa_type=AutoString(length=32))
    priority: Priority = Field(sa_type=AutoString(length=16))
    safety: bool = False
    product_model: str | None = Field(default=None, max_length=100)
    batch: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    purchase_channel: str | None = Field(default=None, max_length=100)
    description: str
    requested: str = Field(max_length=32)
    status: TicketStatus = enum_column(TicketStatus, length=20)
    team_key: str = Field(max_length=64)
    assignee_id: int | None = Field(default=None, foreign_key="users.id")
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    # A drill's synthetic complaint: kept out of the queue, the reports and real detection,
    # linked only to its drill incident.
    drill: bool = False
    breach_state: BreachState = enum_column(BreachState, default=BreachState.ok, length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: int | None = Field(default=None, foreign_key="users.id")
    first_response_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolution: str | None = None
    responsible_department: str | None = Field(default=None, max_length=100)
    compensation_amount: float | None = None
    survey_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    csat: int | None = None
    nps: int | None = None
    survey_comment: str | None = None
    surveyed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reopened_count: int = 0
    appealed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class TimerKind(StrEnum):
    response = "response"
    resolution = "resolution"
    handling_plan = "handling_plan"
    close = "close"
    verification = "verification"
    # An appeal's own targets: one appeal of a ticket is open at a time (tickets.appeals).
    appeal_response = "appeal_response"
    appeal_answer = "appeal_answer"


class SlaTimer(SQLModel, table=True):
    """One target of one ticket. ``next_action_at`` is the next moment the sweep has work on
    it (the warning, the breach, the second breach): the only column the sweep searches."""

    __tablename__ = "sla_timers"
    __table_args__ = (
        UniqueConstraint("ticket_id", "kind"),
        Index(
            "ix_sla_timers_next_action",
            "next_action_at",
            postgresql_where=text("next_action_at IS NOT NULL"),
            sqlite_where=text("next_action_at IS NOT NULL"),
        ),
    )

    id: int = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id")
    kind: TimerKind = enum_column(TimerKind, length=16)
    clock: str = Field(max_length=16)  # calendar | business
    target_seconds: float
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    warn_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    second_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    stage: int = 0  # 0 running, 1 warned, 2 breached, 3 breached twice
    next_action_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    paused_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    met_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    met_in_time: bool | None = None


class AppealStatus(StrEnum):
    registered = "registered"  # waiting for a supervisor to name its handler
    investigating = "investigating"
    answered = "answered"


class AppealOutcome(StrEnum):
    upheld = "upheld"
    partly_upheld = "partly_upheld"
    rejected = "rejected"


class Appeal(SQLModel, table=True):
    """A customer's appeal against a ticket's result (seeds 001 六, 申诉处理流程): registered,
    investigated by a designated handler who never worked the ticket, answered. Its targets
    are the ticket's ``appeal_*`` SLA timers while it is open; ``*_in_time`` keeps how each
    went once met."""

    __tablename__ = "ticket_appeals"
    __table_args__ = (Index("ix_ticket_appeals_handler_status", "handler_id", "status"),)

    id: int = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    status: AppealStatus = enum_column(AppealStatus, length=16)
    appellant: str = Field(max_length=1000)  # the customer, or who appealed on their behalf
    channel: IntakeChannel = enum_column(IntakeChannel, length=16)
    grounds: str
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    registered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    registered_by: int | None = Field(default=None, foreign_key="users.id")
    team_key: str = Field(max_length=64)
    handler_id: int | None = Field(default=None, foreign_key="users.id")
    assigned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    assigned_by: int | None = Field(default=None, foreign_key="users.id")
    responded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    responded_in_time: bool | None = None
    outcome: AppealOutcome | None = enum_column(AppealOutcome, default=None, length=16)
    answer: str | None = None
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    answered_by: int | None = Field(default=None, foreign_key="users.id")
    answered_in_time: bool | None = None


class TicketTask(SQLModel, table=True):
    """A tracked follow-up with its own due time: the three-level callback to an unhappy
    customer (seeds 001)."""

    __tablename__ = "ticket_tasks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "key"),
        Index("ix_ticket_tasks_open_due", "done_at", "overdue_at", "due_at"),
    )

    id: int = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    key: str = Field(max_length=32)
    owner_id: int | None = Field(default=None, foreign_key="users.id")
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    done_by: int | None = Field(default=None, foreign_key="users.id")
    note: str = ""
    overdue_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class SignalStatus(StrEnum):
    open = "open"
    declared = "declared"
    dismissed = "dismissed"


class Signal(SQLModel, table=True):
    """A cluster of complaints crossing a playbook trigger. ``open_key`` is set while the
    signal is open and unique, so a cluster raises one signal however many tickets follow."""

    __tablename__ = "signals"

    id: int = Field(default=None, primary_key=True)
    open_key: str | None = Field(default=None, max_length=300, unique=True)
    playbook_key: str = Field(max_length=64)
    trigger_key: str = Field(max_length=64)
    dimension: str = Field(max_length=32)
    category: str | None = Field(default=None, max_length=32)
    scope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    count: int
    baseline: float | None = None
    window_seconds: int
    status: SignalStatus = enum_column(SignalStatus, length=16)
    raised_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    first_ticket_id: int
    last_ticket_id: int
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    # Raised by a drill's synthetic complaints, for its drill incident (in ``incident_id``
    # from the start): never offered to declare, never on the real board.
    drill: bool = False
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reason: str | None = None


class CalendarRun(SQLModel, table=True):
    """A calendar job's run for one period: the unique key makes it run once across workers."""

    __tablename__ = "calendar_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: int = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    period: str = Field(max_length=32)
    ran_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
