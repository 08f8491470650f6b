"""Accountability after an incident (判定责任, 考核处罚): responsibility findings, the
《考核决定书》 issued to each person concerned once a finding is approved, and the appeals staff
make against them.

Money is kept in fen (integer hundredths of a yuan): exact on both databases, where a decimal
column would be a float on SQLite."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column


class Authority(StrEnum):
    """Who may approve a finding, lowest first (seed 001 6-4)."""

    general_affairs = "general_affairs"  # 综合部
    general_manager = "general_manager"  # 总经理

    @property
    def rank(self) -> int:
        return list(Authority).index(self)


class PenaltyKind(StrEnum):
    fine = "fine"  # 罚款 (扣罚 from the wage, seed 001 7-6)
    warning = "warning"  # 警告
    demerit = "demerit"  # 记过
    other = "other"


class FindingState(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"


class Finding(SQLModel, table=True):
    """Who is responsible for an incident under review, what it cost, and the penalty
    proposed. ``route`` is the authority the penalty went to when proposed."""

    __tablename__ = "accountability_findings"

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    people: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    facts: str
    loss_fen: int = Field(sa_column=Column(BigInteger(), nullable=False))
    penalty_fen: int = Field(sa_column=Column(BigInteger(), nullable=False))
    penalty_kind: PenaltyKind = enum_column(PenaltyKind)
    penalty_text: str = Field(max_length=500)
    major: bool = False
    route: Authority = enum_column(Authority, length=32)
    state: FindingState = enum_column(FindingState, default=FindingState.proposed)
    proposed_by: int = Field(foreign_key="users.id")
    proposed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    decision_note: str = ""


class AppealState(StrEnum):
    open = "open"
    upheld = "upheld"
    varied = "varied"
    revoked = "revoked"


class Letter(SQLModel, table=True):
    """A 《考核决定书》 as issued to one person: its text in each language, written once. A
    decision varied or revoked on appeal issues the next version; the one before is marked
    superseded, its text kept."""

    __tablename__ = "accountability_letters"
    __table_args__ = (UniqueConstraint("finding_id", "user_id", "version"),)

    id: int = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    finding_id: int = Field(foreign_key="accountability_findings.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    version: int = 1
    penalty_fen: int = Field(sa_column=Column(BigInteger(), nullable=False))
    penalty_text: str = Field(max_length=500)
    revoked: bool = False
    issued_by: int = Field(foreign_key="users.id")
    issued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    appeal_until: date
    # {locale: Markdown}, as issued; never rewritten.
    texts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    superseded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Appeal(SQLModel, table=True):
    __tablename__ = "accountability_appeals"

    id: int = Field(default=None, primary_key=True)
    letter_id: int = Field(foreign_key="accountability_letters.id", index=True)
    appellant_id: int = Field(foreign_key="users.id")
    reason: str
    filed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    state: AppealState = enum_column(AppealState, default=AppealState.open)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    note: str = ""
    # The letter the decision issued, when it varied or revoked the one appealed.
    new_letter_id: int | None = Field(default=None, foreign_key="accountability_letters.id")
