"""Paging: one page per roster seat, the people it reached, and the messages it sent.

Everything that must happen later is a due time on a row (``Page.escalate_at``,
``PageTarget.next_step_at``, ``DirectMessage.due_at``) that a sweep claims, so a restart loses
nothing and several workers never repeat a step."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column


class PageStatus(StrEnum):
    open = "open"  # nobody has acknowledged yet; escalation runs
    acknowledged = "acknowledged"
    exhausted = "exhausted"  # every step of every round ran without an acknowledgement
    cancelled = "cancelled"  # seat handed over, or the incident stood down


class TargetStatus(StrEnum):
    open = "open"  # may acknowledge; contact steps run while next_step_at is set
    acknowledged = "acknowledged"
    declined = "declined"
    cancelled = "cancelled"


class AnswerRoute(StrEnum):
    """How an answer to a page came in."""

    api = "api"
    link = "link"  # the signed link in a page's message
    sms = "sms"
    voice = "voice"  # the call's keypad


# A page nobody acknowledged in time may still be answered: someone may just be late.
ANSWERABLE = (PageStatus.open, PageStatus.exhausted)


class Page(SQLModel, table=True):
    """The request that a roster seat be taken up, with its escalation chain."""

    __tablename__ = "pages"
    __table_args__ = (Index("ix_pages_open_escalate", "status", "escalate_at"),)

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    assignment_id: int = Field(foreign_key="roster_assignments.id", index=True)
    role_key: str = Field(max_length=64)
    slot: int = 0
    drill: bool = False
    status: PageStatus = enum_column(PageStatus)
    # Position in the escalation chain (0 is the seat holder) and the round through it.
    level: int = 0
    round: int = 0
    escalate_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    acknowledged_by: int | None = Field(default=None, foreign_key="users.id")
    acknowledged_via: AnswerRoute | None = enum_column(AnswerRoute, default=None)
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class PageTarget(SQLModel, table=True):
    """One person reached by a page, worked through their contact policy step by step."""

    __tablename__ = "page_targets"
    __table_args__ = (Index("ix_page_targets_next_step", "status", "next_step_at"),)

    id: int = Field(default=None, primary_key=True)
    page_id: int = Field(foreign_key="pages.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    # What a person may text back instead of ACK when several pages are open for them.
    code: str = Field(max_length=8)
    level: int
    round: int
    reason: str = Field(max_length=200)  # why this person: seat holder, team lead, ...
    status: TargetStatus = enum_column(TargetStatus)
    next_step: int = 0
    next_step_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    answered_via: AnswerRoute | None = enum_column(AnswerRoute, default=None)
