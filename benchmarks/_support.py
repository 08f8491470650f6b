"""Shared helpers for benchmarks: throwaway databases, settings, and the processes a
benchmark runs (the server, workers, the Twilio-compatible fake)."""

import asyncio
import multiprocessing
import os
import queue
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
# uvicorn closes a keep-alive connection idle for 5 s (its timeout_keep_alive); the generator
# leaves one idle for longer than this unused rather than race the server's close.
STALE_AFTER_S = 4.0

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


# Load generation. httpx's connection pool re-scans every connection for every queued request
# (encode/httpx#3215, encode/httpcore#1035): with hundreds of requests in flight the client,
# not the server, spends the time, so requests start late and an open-loop storm never ends.
# These generators write prepared HTTP/1.1 requests on keep-alive sockets, in processes of
# their own, and read only each answer's status and length.


def raw_request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 request as it goes on the wire (the Host header is the generator's)."""
    lines = [f"{method} {path} HTTP/1.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n").encode() + b"%HOST%\r\n\r\n" + body


class _Connection(asyncio.Protocol):
    """A keep-alive connection carrying one request at a time."""

    def __init__(self, on_answer: Callable[["_Connection", int | None], None]) -> None:
        self.on_answer = on_answer
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.busy = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        del self.buffer[: end + 4 + length]
        self.busy = False
        self.on_answer(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.busy = False
            self.on_answer(self, None)
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class LoadResult:
    """Latencies in ms (open loop: from each request's scheduled start), requests answered
    with anything but a 2xx or not at all, the generators' own CPU seconds, and the 99th
    percentile of how late a request left against its schedule (the generator keeping up)."""

    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    cpu_s: float = 0.0
    send_lag_p99_ms: float = 0.0
    elapsed_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


async def _generate(
    host: str,
    port: int,
    requests: list[tuple[int, bytes]],
    rate: float | None,
    connections: int,
    start_wall: float,
    answer_timeout: float,
) -> LoadResult:
    """Open loop when ``rate`` is given (request i leaves at i / rate, on an idle connection,
    a new one while under ``connections``, else queued), closed loop on ``connections``
    connections otherwise."""
    loop = asyncio.get_running_loop()
    result = LoadResult()
    start = loop.time() + (start_wall - time.time())
    host_header = f"Host: {host}:{port}".encode()
    pending = deque((index, request.replace(b"%HOST%", host_header)) for index, request in requests)
    queued: deque[tuple[float, bytes]] = deque()
    # Each idle connection with the moment it went idle: the server closes a keep-alive
    # connection idle for its timeout, and a request written to it then is never read.
    idle: list[tuple[_Connection, float]] = []
    scheduled: dict[_Connection, float] = {}
    opened = 0
    outstanding = len(pending)
    finished = loop.create_future()
    lags: list[float] = []

    def send(connection: _Connection, at: float, request: bytes) -> None:
        scheduled[connection] = at
        connection.send(request)

    def on_answer(connection: _Connection, status: int | None) -> None:
        nonlocal outstanding
        now = loop.time()
        result.latencies.append((now - scheduled.pop(connection)) * 1000)
        result.statuses[status or 0] = result.statuses.get(status or 0, 0) + 1
        if status is None or not 200 <= status < 300:
            result.failed += 1
        outstanding -= 1
        if outstanding == 0 and not finished.done():
            finished.set_result(None)
        if status is None:
            return
        if rate is None and pending:
            send(connection, now, pending.popleft()[1])
        elif queued:
            send(connection, *queued.popleft())
        else:
            idle.append((connection, now))

    def take_idle() -> _Connection | None:
        nonlocal opened
        while idle:
            connection, since = idle.pop()
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                if loop.time() - since < STALE_AFTER_S:
                    return connection
                transport.close()
            opened -= 1
        return None

    async def connect() -> _Connection:
        nonlocal opened
        opened += 1
        _, connection = await loop.create_connection(lambda: _Connection(on_answer), host, port)
        return connection

    async def open_and_send(at: float, request: bytes) -> None:
        nonlocal outstanding
        try:
            send(await connect(), at, request)
        except OSError:
            result.failed += 1
            outstanding -= 1
            if outstanding == 0 and not finished.done():
                finished.set_result(None)

    opening: set[asyncio.Task] = set()

    for _ in range(connections if rate is None else min(connections, 32)):
        idle.append((await connect(), loop.time()))
    await asyncio.sleep(max(0.0, start - loop.time()))
    started = loop.time()
    cpu = time.process_time()
    if rate is None:
        while pending and (connection := take_idle()) is not None:
            send(connection, loop.time(), pending.popleft()[1])
    else:
        while pending:
            index, request = pending.popleft()
            at = start + index / rate
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            lags.append((loop.time() - at) * 1000)
            if (connection := take_idle()) is not None:
                send(connection, at, request)
            elif opened < connections:
                task = loop.create_task(open_and_send(at, request))
                opening.add(task)
                task.add_done_callback(opening.discard)
            else:
                queued.append((at, request))
    # Given up when nothing has been answered for answer_timeout seconds.
    last_answer = loop.time()
    while outstanding:
        answered = outstanding
        try:
            await asyncio.wait_for(asyncio.shield(finished), 1.0)
        except TimeoutError:
            if outstanding != answered:
                last_answer = loop.time()
            elif loop.time() - last_answer > answer_timeout:
                result.failed += outstanding
                break
    result.elapsed_s = loop.time() - started
    result.cpu_s = time.process_time() - cpu
    result.send_lag_p99_ms = percentile(lags, 0.99) if lags else 0.0
    for connection in [*(connection for connection, _ in idle), *scheduled]:
        if connection.transport is not None:
            connection.transport.close()
    return result


def _generator_process(arguments: tuple, ready: Any, go: "_StartSignal", results: Any) -> None:
    async def run() -> LoadResult:
        host, port, requests, rate, connections, answer_timeout = arguments
        ready.put(True)
        go.wait()
        return await _generate(
            host, port, requests, rate, connections, go.start_wall.value, answer_timeout
        )

    results.put(asyncio.run(run()))


def load(
    url: str,
    requests: list[bytes],
    *,
    rate: float | None = None,
    connections: int = 16,
    processes: int = 2,
    answer_timeout: float = 60.0,
) -> LoadResult:
    """Sends ``requests`` (from raw_request) to ``url`` from ``processes`` processes sharing
    the schedule (open loop at ``rate`` a second) or the ``connections`` (closed loop); a
    request not answered once nothing has been for ``answer_timeout`` seconds failed."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    go = _StartSignal(context)
    share = -(-connections // processes)
    workers = [
        context.Process(
            target=_generator_process,
            args=(
                (host, port, list(enumerate(requests))[k::processes], rate, share, answer_timeout),
                ready,
                go,
                results,
            ),
            daemon=True,
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    # The connections of the closed loop are opened before the start; a second lets every
    # process open them.
    go.start(time.time() + 1.0)
    parts: list[LoadResult] = []
    while len(parts) < len(workers):
        try:
            parts.append(results.get(timeout=5))
        except queue.Empty:
            if any(worker.exitcode not in (None, 0) for worker in workers):
                raise RuntimeError("a load generator died") from None
    total = LoadResult()
    for part in parts:
        total.latencies += part.latencies
        total.failed += part.failed
        total.cpu_s += part.cpu_s
        total.send_lag_p99_ms = max(total.send_lag_p99_ms, part.send_lag_p99_ms)
        total.elapsed_s = max(total.elapsed_s, part.elapsed_s)
        for status, count in part.statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + count
    for worker in workers:
        worker.join(timeout=30)
    return total


class _StartSignal:
    """The wall-clock time every generator starts at, set once all are ready."""

    def __init__(self, context: Any) -> None:
        self.event = context.Event()
        self.start_wall = context.Value("d", 0.0)

    def start(self, at: float) -> None:
        self.start_wall.value = at
        self.event.set()

    def wait(self) -> None:
        self.event.wait()
