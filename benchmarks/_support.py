"""Shared helpers for benchmarks: throwaway databases (servers come from devtools)."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from incident_cmd import db, migrate
from incident_cmd.config import get_settings

POSTGRES_URL = os.environ.get(
    "INCIDENT_CMD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_database(backend: str) -> Iterator[str]:
    """A migrated database that the settings point at, dropped afterwards."""
    name = f"icmd_bench_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        directory = tempfile.TemporaryDirectory()
        url = f"sqlite:///{directory.name}/{name}.db"
    else:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    os.environ["INCIDENT_CMD_DATABASE_URL"] = url
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    migrate.upgrade(db.get_engine())
    try:
        yield url
    finally:
        db.get_engine().dispose()
        db.get_engine.cache_clear()
        if backend == "sqlite":
            directory.cleanup()
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(share * (len(ordered) - 1)))
    return ordered[index]
