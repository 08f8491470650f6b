"""Engine and sessions. SQLite (WAL) is the embedded default; PostgreSQL is the engine for scale."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, Table, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert
from sqlmodel import Session, SQLModel, create_engine

from incident_cmd.config import get_settings

# Connections a process may hold at once; the web app admits no more requests at a time than
# this (admission.py), so a request never waits for a connection that only a waiting request
# could give back.
POOL_SIZE, MAX_OVERFLOW = 10, 20
POOL_CAPACITY = POOL_SIZE + MAX_OVERFLOW


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        pool: dict[str, Any] = {}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            pool = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        _use_sqlite_transactions(engine)
        return engine
    # JIT compilation pays off for long analytical queries; for this application's short
    # statements it only adds its compile time (hundreds of ms on a 1,000-row batch insert).
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        connect_args={"options": "-c jit=off"},
    )


def _use_sqlite_transactions(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN; let SQLAlchemy
    # emit BEGIN itself (the recipe in SQLAlchemy's SQLite dialect documentation).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work for CLI commands and sweeps: commit at the end, roll back on error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


Query = TypeVar("Query", bound=Select[Any])


def skip_locked(session: Session, query: Query, *, of: Any = None) -> Query:
    """A claim: on PostgreSQL the rows are locked and those another worker holds are skipped,
    so several workers never take the same row; SQLite has one writer at a time anyway."""
    if is_postgres(session):
        return query.with_for_update(of=of, skip_locked=True)
    return query


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Table, for Core statements (SQLModel's type hints leave ``__table__``
    undeclared)."""
    table = sa_inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


def upsert_insert(session: Session, table: Table) -> Insert:
    """An INSERT that supports ``on_conflict_do_*`` on both engines."""
    dialect = postgresql if is_postgres(session) else sqlite
    return dialect.insert(table)
