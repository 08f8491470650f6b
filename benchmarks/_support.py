"""Shared helpers for benchmarks: throwaway databases and a real uvicorn server in a thread."""

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(share * (len(ordered) - 1)))
    return ordered[index]
