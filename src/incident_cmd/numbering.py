"""Human-readable, gap-tolerant, never-duplicated numbers (INC-2026-0007).

The seeds ask for a unique number on every complaint, not a gap-less series, and a unique
number needs no lock held across a transaction. On PostgreSQL each human-readable series is
a sequence of its own (``nextval`` locks nothing until commit, so a thousand intakes at once
do not queue on one counter row; a rolled-back intake leaves a gap). Counters whose values
must follow the transaction (a statement's version, a round-robin turn) keep a row in
``sequence_counters``; on SQLite, whose writers take turns anyway, every counter does."""

from sqlalchemy import Column, Integer, String, Table, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, select

from incident_cmd.db import is_postgres, upsert_insert

sequence_counters = Table(
    "sequence_counters",
    SQLModel.metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)

# PostgreSQL identifiers are at most 63 bytes; every series name fits well inside.
SEQUENCE_PREFIX = "counter:"


def next_value(session: Session, name: str, *, step: int = 1) -> int:
    """Atomically increments the named counter by ``step`` and returns the last value taken
    (the caller has the ``step`` values up to it); concurrent callers never get the same
    value. The row stays locked until the caller's transaction ends."""
    statement = (
        upsert_insert(session, sequence_counters)
        .values(name=name, value=step)
        .on_conflict_do_update(
            index_elements=[sequence_counters.c.name],
            set_={"value": sequence_counters.c.value + step},
        )
        .returning(sequence_counters.c.value)
    )
    return session.execute(statement).scalar_one()


def sequence_name(name: str) -> str:
    return SEQUENCE_PREFIX + name


def unique_values(session: Session, name: str, count: int) -> list[int]:
    """``count`` values of the named series no other caller ever gets, ascending, holding no
    lock: a PostgreSQL sequence, made the first time the series is used (starting after what
    ``sequence_counters`` counted before it existed); ``next_value`` on SQLite."""
    if not is_postgres(session):
        last = next_value(session, name, step=count)
        return list(range(last - count + 1, last + 1))
    quoted = session.get_bind().dialect.identifier_preparer.quote(sequence_name(name))
    # nextval(NULL) is NULL: one statement both asks whether the sequence exists and uses it,
    # for the whole batch at once.
    taken = text("SELECT nextval(to_regclass(:sequence)) FROM generate_series(1, :count)")
    for _ in range(3):
        values = session.execute(taken, {"sequence": quoted, "count": count}).scalars().all()
        if all(value is not None for value in values):
            return sorted(int(value) for value in values)
        counted = session.exec(
            select(sequence_counters.c.value).where(sequence_counters.c.name == name)
        ).first()
        try:
            # A savepoint: two first intakes of a year may both try to make the sequence;
            # the one that loses waits for the other's commit and then uses its sequence.
            with session.begin_nested():
                session.execute(
                    text(f"CREATE SEQUENCE IF NOT EXISTS {quoted} START WITH {(counted or 0) + 1}")
                )
        except DBAPIError:
            continue
    raise RuntimeError(f"sequence {quoted} could neither be used nor made")


def next_numbers(
    session: Session, *, prefix: str, year: int, count: int, width: int = 4
) -> list[str]:
    return [
        f"{prefix}-{year}-{value:0{width}d}"
        for value in unique_values(session, f"{prefix}-{year}", count)
    ]


def next_number(session: Session, *, prefix: str, year: int, width: int = 4) -> str:
    return next_numbers(session, prefix=prefix, year=year, count=1, width=width)[0]
