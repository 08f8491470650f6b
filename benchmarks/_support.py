"""Shared helpers for benchmarks: throwaway databases, settings, and the processes a
benchmark runs (the server, workers, the Twilio-compatible fake)."""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from incident_cmd import db, migrate
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, TokenKind
from incident_cmd.auth.schemas import UserCreate
from incident_cmd.config import get_settings
from incident_cmd.demo import seed
from incident_cmd.deps import SESSION_COOKIE
from incident_cmd.devtools.local_server import free_port

POSTGRES_URL = os.environ.get(
    "INCIDENT_CMD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BENCH_SECRET = "benchmark-secret-not-for-production-0123456789"
ACCOUNT = "AC" + "b" * 32
TOKEN = "bench-token"
SENDER = "+15005550006"

SQLITE_CUSTOMERS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO customers (external_ref, name, phone, locale, timezone, region, created_at,
                       updated_at)
SELECT 'B' || i, 'Customer ' || i, printf('+8613%09d', i), 'zh-CN', 'Asia/Shanghai',
       'R' || (i % 30), '2026-11-01 00:00:00.000000', '2026-11-01 00:00:00.000000' FROM n
"""
POSTGRES_CUSTOMERS = """
INSERT INTO customers (external_ref, name, phone, locale, timezone, region, created_at,
                       updated_at)
SELECT 'B' || i, 'Customer ' || i, '+8613' || lpad(i::text, 9, '0'), 'zh-CN', 'Asia/Shanghai',
       'R' || (i % 30), now(), now() FROM generate_series(1, :count) AS i
"""
PURCHASES = """
INSERT INTO purchases (customer_id, purchase_key, product_model, batch)
SELECT id, 'PX-200|' || :batch || '|', 'PX-200', :batch FROM customers WHERE id <= :count
"""


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


def populate(backend: str, customers: int, batches: dict[str, int]) -> None:
    with db.session_scope() as session:
        statement = SQLITE_CUSTOMERS if backend == "sqlite" else POSTGRES_CUSTOMERS
        session.execute(text(statement), {"count": customers})
        for batch, count in batches.items():
            session.execute(text(PURCHASES), {"batch": batch, "count": count})
        if backend == "postgres":
            session.execute(text("ANALYZE"))
        auth_service.create_user(
            session, data=UserCreate(username="bench.duty", role=Role.duty_manager), actor_id=None
        )
        auth_service.create_user(
            session, data=UserCreate(username="approver", role=Role.comms), actor_id=None
        )
    if backend == "postgres":
        # Flush the set-up's own writes, so that its checkpoint is not timed as ours.
        with db.get_engine().connect() as connection:
            connection.execute(text("CHECKPOINT"))


@contextmanager
def sending_world(customers: int) -> Iterator[str]:
    """The demo organisation on a throwaway PostgreSQL database with ``customers`` customers
    who bought batch BULK, campaigns sent at full speed to the fake Twilio server (its own
    process, 50 ms latency) and sweeps every second; yields the fake server's URL."""
    send_at_full_speed(secret_key=BENCH_SECRET, sweep_interval_seconds="1")
    fake, url = fake_server(latency_ms=50)
    try:
        configure(twilio_api_base=url)
        with throwaway_database("postgres"):
            with db.session_scope() as session:
                seed(session)
            populate("postgres", customers, {"BULK": customers})
            yield url
    finally:
        fake.terminate()
        fake.wait(timeout=10)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(share * (len(ordered) - 1)))
    return ordered[index]


def configure(**settings: str) -> None:
    """Settings for this process and the processes it starts, through the environment."""
    for name, value in settings.items():
        os.environ[f"INCIDENT_CMD_{name.upper()}"] = value
    get_settings.cache_clear()


def send_at_full_speed(**settings: str) -> None:
    """Campaigns sent with no rate limit to the fake Twilio account, no callbacks asked for."""
    configure(
        send_rate_per_second="0",
        public_base_url="http://127.0.0.1:9",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_sender=SENDER,
        **settings,
    )


def process(*arguments: str, output: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    """``python *arguments`` with this process's settings."""
    return subprocess.Popen(
        [sys.executable, *arguments],
        env=os.environ.copy(),
        stdout=output,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def running_server() -> Iterator[str]:
    """``incident-cmd serve`` in a process of its own, once it answers; its URL."""
    port = free_port()
    serving = process("-m", "incident_cmd.cli", "serve", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.ConnectError:
                time.sleep(0.05)  # waiting for the server to listen, not measuring
        else:
            raise RuntimeError("the server did not start")
        yield url
    finally:
        serving.terminate()
        serving.wait(timeout=30)


@contextmanager
def running_worker() -> Iterator[None]:
    """``incident-cmd worker`` (the sweeps and both sending lanes) in a process of its own."""
    worker = process("-m", "incident_cmd.cli", "worker")
    try:
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def wait_for_full_flow(fake_url: str, campaign_size: int) -> None:
    """Until the campaign has sent a tenth of its messages (at most 2,000): in full flow."""
    while fake_state(fake_url)["count"] < min(2_000, campaign_size // 10):
        time.sleep(0.1)  # waiting, not measuring


def fake_server(latency_ms: int) -> tuple[subprocess.Popen, str]:
    """The Twilio-compatible server in a process of its own, answering after ``latency_ms``."""
    port = free_port()
    fake = process(
        "-m",
        "incident_cmd.cli",
        "fake-twilio",
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        "--no-callbacks",
        "--account-sid",
        ACCOUNT,
        "--auth-token",
        TOKEN,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.post(f"{url}/_fake/reset?keep_requests=0")
            return fake, url
        except httpx.ConnectError:
            time.sleep(0.05)
    raise RuntimeError("fake Twilio server did not start")


def fake_state(url: str) -> dict:
    return httpx.get(f"{url}/_fake/messages", params={"full": "0"}, timeout=30).json()


def duty_manager_cookie(purpose: str) -> dict[str, str]:
    """The page session cookie of the demo organisation's duty manager."""
    with db.session_scope() as session:
        duty = auth_service.get_user_by_username(session, username="duty")
        _, secret = auth_service.issue_token(
            session,
            user=duty,
            name=purpose,
            kind=TokenKind.session,
            expires_in=None,
            actor_id=duty.id,
        )
    return {SESSION_COOKIE: secret}
