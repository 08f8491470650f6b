"""Human-readable, gap-tolerant, never-duplicated numbers (INC-2026-0007)."""

from sqlalchemy import Column, Integer, String, Table
from sqlmodel import Session, SQLModel

from incident_cmd.db import upsert_insert

sequence_counters = Table(
    "sequence_counters",
    SQLModel.metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)


def next_value(session: Session, name: str) -> int:
    """Atomically increments the named counter; concurrent callers never get the same value."""
    statement = (
        upsert_insert(session, sequence_counters)
        .values(name=name, value=1)
        .on_conflict_do_update(
            index_elements=[sequence_counters.c.name],
            set_={"value": sequence_counters.c.value + 1},
        )
        .returning(sequence_counters.c.value)
    )
    return session.execute(statement).scalar_one()


def next_number(session: Session, *, prefix: str, year: int, width: int = 4) -> str:
    return f"{prefix}-{year}-{next_value(session, f'{prefix}-{year}'):0{width}d}"
