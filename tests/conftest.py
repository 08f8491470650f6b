"""Test fixtures. Database tests run on SQLite and on PostgreSQL (when it answers, and always
under CI=true). Each test runs inside a transaction that is rolled back afterwards."""

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from incident_cmd import db, migrate
from incident_cmd.app import create_app
from incident_cmd.auth.models import Role
from incident_cmd.config import get_settings
from incident_cmd.deps import get_session, session_opener
from incident_cmd.playbooks.service import PlaybookRegistry
from tests.factories import bearer, make_user

pytest_plugins = [
    "tests.plugins.clock",
    "tests.plugins.web",
    "tests.plugins.twilio",
    "tests.plugins.messaging",
    "tests.plugins.paging",
    "tests.plugins.tickets",
    "tests.plugins.drills",
    "tests.plugins.statements",
    "tests.plugins.subscriptions",
    "tests.plugins.imports",
]

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_url() -> str | None:
    explicit = os.environ.get("INCIDENT_CMD_TEST_POSTGRES_URL")
    if explicit:
        return explicit
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return DEFAULT_POSTGRES_URL
    except OSError:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI=true requires PostgreSQL on 127.0.0.1:5432") from None
        return None


POSTGRES_URL = _postgres_url()
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]


@dataclass
class TestDatabase:
    backend: str
    url: str
    engine: Engine


def _admin_engine() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def create_database(
    backend: str, directory: Path, template: str | None = None, migrated: bool = True
) -> TestDatabase:
    name = f"icmd_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        url = f"sqlite:///{directory / (name + '.db')}"
        engine = db.make_engine(url)
        if migrated:
            migrate.upgrade(engine)
        return TestDatabase(backend, url, engine)
    admin = _admin_engine()
    with admin.connect() as connection:
        suffix = f" TEMPLATE {template}" if template else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    admin.dispose()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    if template is None and migrated:
        migrate.upgrade(engine)
    return TestDatabase(backend, url, engine)


def drop_database(database: TestDatabase) -> None:
    database.engine.dispose()
    if database.backend == "postgres":
        admin = _admin_engine()
        with admin.connect() as connection:
            name = database.engine.url.database
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory) -> Iterator[TestDatabase]:
    created = create_database(request.param, tmp_path_factory.mktemp(request.param))
    yield created
    drop_database(created)


@pytest.fixture
def fresh_database(database, tmp_path) -> Iterator[TestDatabase]:
    """A migrated database of its own, for tests that commit (CLI, concurrency, restarts)."""
    if database.backend == "postgres":
        database.engine.dispose()
        created = create_database("postgres", tmp_path, template=database.engine.url.database)
    else:
        created = create_database("sqlite", tmp_path)
    yield created
    drop_database(created)


@pytest.fixture(autouse=True)
def settings_env(monkeypatch, tmp_path) -> Iterator[None]:
    """Settings come from a known environment, never the developer's .env or database."""
    for name in list(os.environ):
        if name.startswith("INCIDENT_CMD_") and name != "INCIDENT_CMD_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("INCIDENT_CMD_DATABASE_URL", f"sqlite:///{tmp_path / 'untouched.db'}")
    monkeypatch.setenv("INCIDENT_CMD_DEFAULT_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("INCIDENT_CMD_SECRET_KEY", "a-test-secret-long-enough-to-be-deployable")
    # Cheap argon2id parameters: the suite hashes hundreds of passwords.
    monkeypatch.setenv("INCIDENT_CMD_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("INCIDENT_CMD_ARGON2_MEMORY_KIB", "1024")
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield
    get_settings.cache_clear()
    db.get_engine.cache_clear()


@pytest.fixture
def empty_database(database, tmp_path) -> Iterator[TestDatabase]:
    """A database with no schema at all."""
    created = create_database(database.backend, tmp_path, migrated=False)
    yield created
    drop_database(created)


@pytest.fixture
def use_database(monkeypatch, fresh_database) -> TestDatabase:
    """Points the settings (and so the CLI and the app's own sessions) at a fresh database."""
    monkeypatch.setenv("INCIDENT_CMD_DATABASE_URL", fresh_database.url)
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    return fresh_database


@pytest.fixture
def session(database) -> Iterator[Session]:
    connection = database.engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    session.close()
    transaction.rollback()
    connection.close()


@pytest.fixture(scope="session")
def shipped_playbooks() -> PlaybookRegistry:
    return PlaybookRegistry.from_settings()


@pytest.fixture
def served_playbooks(shipped_playbooks) -> PlaybookRegistry:
    """The playbooks the ``app`` serves; a test module overrides it to serve its own folder."""
    return shipped_playbooks


@pytest.fixture
def app(session, served_playbooks):
    application = create_app(registry=served_playbooks, check_schema=False, run_worker=False)

    def test_session() -> Iterator[Session]:
        # What the test set up counts as committed before the request, as it would be live.
        session.commit()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    @contextmanager
    def test_sessions() -> Iterator[Session]:
        # A group commit (``batching``) writes in the test's session too.
        session.commit()
        yield session

    application.dependency_overrides[get_session] = test_session
    application.dependency_overrides[session_opener] = lambda: test_sessions
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client_factory(shipped_playbooks):
    """Clients of an app that uses its own sessions on the configured database."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        app = create_app(registry=shipped_playbooks, check_schema=False, run_worker=False)
        clients.append(TestClient(app))
        return clients[-1]

    yield make
    for made in clients:
        made.close()


@pytest.fixture
def headers(session):
    """headers(role) -> Authorization headers for a new user with that role."""
    made: dict[str, dict[str, str]] = {}

    def for_role(role: Role | str, username: str | None = None) -> dict[str, str]:
        role = Role(role)
        name = username or f"{role.value.replace('_', '-')}-user"
        if name not in made:
            made[name] = bearer(session, make_user(session, role, username=name))
        return made[name]

    return for_role


@pytest.fixture
def demo_org(session):
    from incident_cmd.demo import seed

    seed(session)
    session.flush()
    return session
