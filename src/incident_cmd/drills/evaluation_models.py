"""What people add to a drill run after HSEEP: the evaluators named for it, each evaluator's
rating of each objective (P/S/M/U) with notes, the participants' hot-wash notes, and the
improvement plan's items, each of which is a review follow-up on the drill incident (so the
follow-up reminder sweep chases it like any other)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column


class Rating(StrEnum):
    """HSEEP's four ratings of how an objective was performed."""

    performed = "P"  # without challenges
    some_challenges = "S"
    major_challenges = "M"
    unable = "U"  # unable to be performed


class DrillEvaluator(SQLModel, table=True):
    """Someone the controller named to evaluate this run, beyond the duty managers and
    admins who always may (a trainer, a peer from another site)."""

    __tablename__ = "drill_evaluators"
    __table_args__ = (UniqueConstraint("run_id", "user_id"),)

    id: int = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="drill_runs.id")
    user_id: int = Field(foreign_key="users.id")
    named_by: int = Field(foreign_key="users.id")
    named_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DrillRating(SQLModel, table=True):
    """One evaluator's rating of one objective; rating again replaces it (the timeline
    keeps every rating given)."""

    __tablename__ = "drill_ratings"
    __table_args__ = (UniqueConstraint("run_id", "objective_key", "evaluator_id"),)

    id: int = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="drill_runs.id")
    objective_key: str = Field(max_length=64)
    evaluator_id: int = Field(foreign_key="users.id")
    rating: Rating = enum_column(Rating, length=1)
    notes: str = ""
    rated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class NoteKind(StrEnum):
    strength = "strength"
    improvement = "improvement"  # an area for improvement
    note = "note"


class HotWashNote(SQLModel, table=True):
    __tablename__ = "drill_hotwash_notes"

    id: int = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="drill_runs.id", index=True)
    kind: NoteKind = enum_column(NoteKind)
    text: str
    author_id: int = Field(foreign_key="users.id")
    written_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Improvement(SQLModel, table=True):
    """An improvement plan item: the follow-up it is (title, owner, due date, state) and the
    objective it answers, if one."""

    __tablename__ = "drill_improvements"

    id: int = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="drill_runs.id", index=True)
    followup_id: int = Field(foreign_key="postmortem_followups.id", unique=True)
    objective_key: str | None = Field(default=None, max_length=64)
