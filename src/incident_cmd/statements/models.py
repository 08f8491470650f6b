from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.playbooks.schema import PublicStatus


class StatementStage(StrEnum):
    """Where an incident stands, as a statement tells the public: the stages customers know
    from status pages, and those of a product recall (seeds 000: 发布召回公告)."""

    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"
    recall_announced = "recall_announced"
    recall_in_progress = "recall_in_progress"
    recall_closed = "recall_closed"

    @property
    def public_status(self) -> PublicStatus:
        """The status-page stage a recall stage corresponds to (and the playbook template
        drafted for it when the playbook has none of the recall stage's own)."""
        equivalent = RECALL_EQUIVALENTS.get(self)
        return equivalent if equivalent is not None else PublicStatus(self.value)

    @property
    def final(self) -> bool:
        return self.public_status == PublicStatus.resolved


RECALL_EQUIVALENTS = {
    StatementStage.recall_announced: PublicStatus.identified,
    StatementStage.recall_in_progress: PublicStatus.monitoring,
    StatementStage.recall_closed: PublicStatus.resolved,
}


class StatementStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    published = "published"


class Statement(SQLModel, table=True):
    """One public statement about an incident, in every language the public reads. It is
    drafted, approved by a second person and published; once published it never changes: a
    correction is a statement of its own naming the one it corrects."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("incident_id", "version"),
        Index("ix_statements_public", "status", "drill", "published_at"),
    )

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    stage: StatementStage = enum_column(StatementStage, length=32)
    status: StatementStatus = enum_column(StatementStatus)
    # {"zh-CN": ..., "en": ...}; advice (what a customer should do) may be empty.
    title: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    text: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    advice: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    template_key: str | None = Field(default=None, max_length=64)
    corrects_id: int | None = Field(default=None, foreign_key="statements.id")
    # Copied from the incident: a drill's statements are never shown to the public.
    drill: bool = False
    # 1, 2, 3… in the order an incident's statements were published.
    version: int | None = None
    drafted_by: int = Field(foreign_key="users.id")
    drafted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    approved_by: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    published_by: int | None = Field(default=None, foreign_key="users.id")
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
