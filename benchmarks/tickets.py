"""The complaint queue at scale, on PostgreSQL.

    python -m benchmarks.tickets [--quick]

One `incident-cmd serve` process takes tickets in over HTTP from 16 concurrent clients:
intake_per_s on an empty queue, intake_per_s_1m with a million open tickets. The tables are
filled to 1,000,000 open tickets (two SLA timers each) for the rest: sla_sweep_ms_1m is one
SLA sweep finding and handling the due timers among them (100 due, about what five seconds
bring at that size; sla_sweep_ms_1m_1000_due with 1,000 due); queue_page_p99_ms_1m is the
99th percentile of filtered queue pages over HTTP (by status and priority, by assignee, by
product and batch, by breach state, by category; 50 a page); detect_lag_ms is from sending
the ticket that crosses a trigger to its signal being there (the median of ten clusters).

Against the thinnest endpoint: bare_insert_per_s is a bare FastAPI endpoint (the same uvicorn
and pool) inserting one row, measured in the same run with the same 16 clients, and
intake_ratio is intake_per_s over it (goal 0.25). statements_per_intake counts the SQL
statements of one ticket intake (BEGIN and COMMIT included) in process, and
statements_per_intake_batched those per ticket taken in 16 at a time (``take_in_many``, as
the API's group commit and the inbox worker take them in under load). inbound_ack_p99_ms is
the webhook's answer time, from each request's scheduled start, with signed inbound SMS sent
open-loop at 500 a second for 30 seconds (5 in --quick), every one from a sender of its own;
one `incident-cmd worker` then files them: inbound_lost counts messages not kept,
inbound_filed_per_s the worker's rate, and every message must end as exactly one ticket."""

import argparse
import json
import os
import subprocess
import sys
import time
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from benchmarks._support import (
    ACCOUNT,
    SENDER,
    TOKEN,
    LoadResult,
    load,
    percentile,
    raw_request,
    throwaway_database,
)
from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.demo import seed
from incident_cmd.devtools.local_server import free_port
from incident_cmd.integrations.twilio.inbox import InboxSms
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import intake, jobs
from incident_cmd.tickets.models import Signal
from incident_cmd.tickets.schemas import TicketCreate

SECRET = "benchmark-secret-not-for-production-0123456789"

TICKETS = """
INSERT INTO tickets (number, customer_id, contact, channel, category, priority, safety,
    product_model, batch, region, description, requested, status, team_key, assignee_id,
    breach_state, created_at, reopened_count)
SELECT 'BT-' || i, :customer, '+86139' || lpad(i::text, 8, '0'), 'phone',
    (ARRAY['product_quality','logistics','usage','service_attitude','after_sales','other'])
        [1 + i % 6],
    (ARRAY['urgent','important','routine','consultation'])[1 + i % 4], false,
    'PX-' || (i % 50), 'B' || (i % 5000), 'R' || (i % 30), 'benchmark', 'repair',
    (ARRAY['new','acknowledged','in_progress','waiting_customer'])[1 + (i / 7) % 4],
    'customer-service', (:agents)[1 + i % cardinality(:agents)],
    (ARRAY['ok','ok','ok','warning','breached'])[1 + i % 5],
    now() - make_interval(secs => i), 0
FROM generate_series(1, :count) AS i
"""
TIMERS = """
INSERT INTO sla_timers (ticket_id, kind, clock, target_seconds, started_at, warn_at, due_at,
    second_at, stage, next_action_at)
SELECT id, kind, 'calendar', 172800, created_at, now() + interval '30 days',
    now() + interval '31 days', now() + interval '32 days', 0, now() + interval '30 days'
FROM tickets CROSS JOIN (VALUES ('response'), ('resolution')) AS kinds(kind)
WHERE number LIKE 'BT-%'
"""
MAKE_DUE = """
UPDATE sla_timers SET warn_at = now() - interval '1 minute',
    next_action_at = now() - interval '1 minute'
WHERE id IN (SELECT id FROM sla_timers WHERE stage = 0 AND kind = 'resolution'
             ORDER BY random() LIMIT :count)
"""


PUBLIC = "http://127.0.0.1:8000"
INBOUND = "/webhooks/twilio/inbound"
BARE_TABLE = "bench_bare_rows"


def bare_app() -> FastAPI:
    """The thinnest endpoint that inserts one row: one statement and its commit."""
    app = FastAPI()
    engine = db.get_engine()

    @app.post("/bare", status_code=201)
    def bare(row: dict) -> dict:
        with engine.begin() as connection:
            connection.execute(
                text(f"INSERT INTO {BARE_TABLE} (body) VALUES (:body)"),
                {"body": json.dumps(row)},
            )
        return {"ok": True}

    return app


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "INCIDENT_CMD_DATABASE_URL": url,
        "INCIDENT_CMD_SECRET_KEY": SECRET,
        "INCIDENT_CMD_RUN_WORKER_IN_PROCESS": "false",
        "INCIDENT_CMD_TWILIO_ACCOUNT_SID": ACCOUNT,
        "INCIDENT_CMD_TWILIO_AUTH_TOKEN": TOKEN,
        "INCIDENT_CMD_TWILIO_SENDER": SENDER,
        "INCIDENT_CMD_PUBLIC_BASE_URL": PUBLIC,
    }


def serve_bare(url: str, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.tickets:bare_app"]
    command += ["--port", str(port), "--http", "httptools", "--no-access-log"]
    process = subprocess.Popen(
        command, env=_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            httpx.post(f"http://127.0.0.1:{port}/bare", json={})
            return process
        except httpx.ConnectError:
            time.sleep(0.05)
    raise RuntimeError("bare server did not start")


def bare_rate(base: str, count: int, clients: int = 16) -> float:
    return closed_loop_rate(base, "/bare", {}, count, clients)


def closed_loop_rate(
    base: str, path: str, headers: dict[str, str], count: int, clients: int = 16
) -> float:
    """Requests a second that ``clients`` connections, each sending as soon as it is answered,
    get answered with 201 (any other answer fails the benchmark)."""
    json_headers = {**headers, "Content-Type": "application/json"}
    requests = [
        raw_request("POST", path, json.dumps(ticket_form(number)).encode(), json_headers)
        for number in range(count)
    ]
    result = load(base, requests, connections=clients)
    assert result.failed == 0, f"{path}: {result.failed} of {count} failed ({result.statuses})"
    return count / result.elapsed_s


def statements_per_intake(count: int = 50, batch: int = 1) -> float:
    """SQL statements (BEGIN and COMMIT included) per ticket, taking ``count`` tickets in,
    ``batch`` in a transaction through ``take_in_many`` (as the API's group commit and the
    inbox worker do under load)."""
    registry = PlaybookRegistry.from_settings()
    seen = 0

    def counted(*_args) -> None:
        nonlocal seen
        seen += 1

    engine = db.get_engine()
    event.listen(engine, "before_cursor_execute", counted)
    event.listen(engine, "begin", counted)
    event.listen(engine, "commit", counted)
    try:
        for first in range(0, count, batch):
            with db.session_scope() as session:
                intake.take_in_many(
                    session,
                    registry=registry,
                    items=[
                        intake.Intake(
                            TicketCreate(**{**ticket_form(700_000 + number), "channel": "phone"}),
                            None,
                        )
                        for number in range(first, min(first + batch, count))
                    ],
                )
    finally:
        event.remove(engine, "before_cursor_execute", counted)
        event.remove(engine, "begin", counted)
        event.remove(engine, "commit", counted)
    return seen / count


def signed_sms(number: int) -> bytes:
    params = {
        "MessageSid": f"SMbench{number:026d}",
        "AccountSid": ACCOUNT,
        "From": f"+86135{number:08d}",
        "To": SENDER,
        "Body": "收到召回通知,我的电饭煲是这个批次吗",
    }
    # Signed for the public base URL the server is configured with, as Twilio signs the URL
    # it was given; posted to the server's own port.
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + INBOUND, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return raw_request("POST", INBOUND, urlencode(params).encode(), headers)


def inbound_storm(base: str, rate: int, seconds: int) -> LoadResult:
    """Open loop: request i starts at i/rate whatever came before; latency counts from then."""
    requests = [signed_sms(number) for number in range(rate * seconds)]
    return load(base, requests, rate=rate, connections=200)


def file_storm(url: str, expected: int) -> tuple[float, dict[str, int]]:
    """One worker files the storm; returns how long it took to empty the inbox and what came
    of the messages: rows kept, outcomes, tickets made from SMS (and from how many senders),
    answers queued for the direct lane."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "incident_cmd.cli", "worker"],
        env=_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.perf_counter()
    try:
        while True:
            with Session(db.get_engine()) as session:
                waiting = session.execute(
                    text("SELECT count(*) FROM sms_inbox WHERE processed_at IS NULL")
                ).scalar_one()
            if waiting == 0 or time.perf_counter() - started > 1800:
                break
            time.sleep(0.2)  # polling for the end, not measuring
        elapsed = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    with Session(db.get_engine()) as session:
        outcomes = {
            str(key): value
            for key, value in session.execute(
                select(InboxSms.outcome, text("count(*)")).group_by(InboxSms.outcome)
            ).all()
        }
        outcomes["tickets"], outcomes["distinct_senders"] = session.execute(
            text("SELECT count(*), count(DISTINCT contact) FROM tickets WHERE channel = 'sms'")
        ).one()
        outcomes["answers"] = session.execute(
            text("SELECT count(*) FROM direct_messages WHERE source = 'sms_inbox'")
        ).scalar_one()
        outcomes["kept"] = session.execute(text("SELECT count(*) FROM sms_inbox")).scalar_one()
        outcomes["waiting"] = waiting
    return elapsed, outcomes


def serve(url: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "incident_cmd.cli", "serve", "--port", str(port)],
        env=_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return process
        except httpx.ConnectError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def token_for(username: str) -> dict[str, str]:
    with db.session_scope() as session:
        user = auth_service.get_user_by_username(session, username=username)
        _, secret = auth_service.issue_token(
            session, user=user, name="benchmark", expires_in=None, actor_id=None
        )
    return {"Authorization": f"Bearer {secret}"}


def ticket_form(number: int, batch: str | None = None, description: str = "电饭煲不工作了"):
    return {
        "phone": f"+86137{number:08d}",
        "channel": "phone",
        "product_model": "PX-900",
        "batch": batch or f"IN{number % 500}",
        "description": description,
        "requested": "repair",
    }


def intake_rate(base: str, headers: dict, count: int, clients: int = 16) -> float:
    return closed_loop_rate(base, "/api/v1/tickets", headers, count, clients)


def fill(count: int) -> None:
    with db.session_scope() as session:
        agents = [
            user.id
            for user in (
                auth_service.get_user_by_username(session, username=name)
                for name in ("agent.sun", "agent.zhou", "agent.wu", "agent.kelly")
            )
        ]
        customer = session.execute(text("SELECT min(id) FROM customers")).scalar_one()
        session.execute(text(TICKETS), {"customer": customer, "agents": agents, "count": count})
        session.execute(text(TIMERS))
    with db.get_engine().connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("tickets", "sla_timers"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def timed_sweep(due: int) -> float:
    with db.session_scope() as session:
        session.execute(text(MAKE_DUE), {"count": due})
    with Session(db.get_engine()) as session:
        started = time.perf_counter()
        handled = jobs.sweep_timers(session)
        session.commit()
        elapsed = (time.perf_counter() - started) * 1000
    assert handled == due, handled
    return elapsed


def queue_pages(base: str, headers: dict, rounds: int) -> list[float]:
    filters = [
        {"status": "new", "priority": "urgent"},
        {"assignee": "agent.zhou", "status": "in_progress"},
        {"product_model": "PX-7", "batch": "B1007"},
        {"breach_state": "breached", "status": "acknowledged"},
        {"category": "logistics"},
    ]
    timings = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for round_ in range(rounds):
            params = {**filters[round_ % len(filters)], "limit": 50}
            started = time.perf_counter()
            first = http.get("/api/v1/tickets", params=params)
            timings.append((time.perf_counter() - started) * 1000)
            assert first.status_code == 200, first.text
            cursor = first.json()["next_cursor"]
            if cursor:
                started = time.perf_counter()
                http.get("/api/v1/tickets", params={**params, "cursor": cursor})
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def detect_lag(base: str, headers: dict, clusters: int) -> list[float]:
    """The mass-complaint trigger: 20 in six hours for one product and batch."""
    lags = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for cluster in range(clusters):
            batch = f"CLUSTER{cluster}"
            for number in range(19):
                response = http.post("/api/v1/tickets", json=ticket_form(900_000 + number, batch))
                assert response.status_code == 201, response.text
            started = time.perf_counter()
            response = http.post("/api/v1/tickets", json=ticket_form(900_019, batch))
            assert response.status_code == 201, response.text
            with Session(db.get_engine()) as session:
                found = session.exec(
                    select(Signal).where(Signal.open_key == f"product_batch:PX-900:{batch}")
                ).first()
            lags.append((time.perf_counter() - started) * 1000)
            assert found is not None, batch
    return lags


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same keys")
    args = parser.parse_args()
    size = 100_000 if args.quick else 1_000_000
    os.environ["INCIDENT_CMD_SECRET_KEY"] = SECRET
    results: dict[str, object] = {"mode": "quick" if args.quick else "full", "tickets": size}
    # Other work on the machine shows in every figure; the ratios are measured side by side.
    results["load_average_start"] = [round(load, 2) for load in os.getloadavg()]
    with throwaway_database("postgres") as url:
        with db.session_scope() as session:
            seed(session)
        port = free_port()
        server = serve(url, port)
        base = f"http://127.0.0.1:{port}"
        try:
            agent = token_for("agent.sun")
            manager = token_for("duty")
            results["intake_per_s"] = round(intake_rate(base, agent, 2_000), 1)
            with db.session_scope() as session:
                session.execute(
                    text(f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, body text)")
                )
            bare_port = free_port()
            bare = serve_bare(url, bare_port)
            try:
                bare_per_s = bare_rate(f"http://127.0.0.1:{bare_port}", 2_000)
            finally:
                bare.terminate()
                bare.wait(timeout=30)
            results["bare_insert_per_s"] = round(bare_per_s, 1)
            results["intake_ratio"] = round(results["intake_per_s"] / bare_per_s, 3)
            results["statements_per_intake"] = round(statements_per_intake(), 1)
            results["statements_per_intake_batched"] = round(
                statements_per_intake(count=64, batch=16), 2
            )
            seconds = 5 if args.quick else 30
            storm = inbound_storm(base, 500, seconds)
            results["inbound_ack_p50_ms"] = round(percentile(storm.latencies, 0.5), 1)
            results["inbound_ack_p99_ms"] = round(percentile(storm.latencies, 0.99), 1)
            results["inbound_send_lag_p99_ms"] = round(storm.send_lag_p99_ms, 1)
            results["inbound_generator_cpu_s"] = round(storm.cpu_s, 2)
            sent = 500 * seconds
            drain_s, outcomes = file_storm(url, sent)
            results["inbound_sent"] = sent
            results["inbound_refused"] = storm.failed
            results["inbound_lost"] = sent - outcomes["kept"]
            results["inbound_outcomes"] = outcomes
            results["inbound_drain_s"] = round(drain_s, 1)
            results["inbound_filed_per_s"] = round(sent / drain_s, 1)
            # Every sender wrote once and is a stranger: each message is exactly one ticket.
            results["inbound_exactly_once"] = (
                outcomes["kept"] == sent
                and outcomes["waiting"] == 0
                and outcomes["tickets"] == sent
                and outcomes["distinct_senders"] == sent
            )
            results["detect_lag_ms"] = round(percentile(detect_lag(base, agent, 10), 0.5), 1)
            print(json.dumps(results), file=sys.stderr)
            fill(size)
            results["intake_per_s_1m"] = round(intake_rate(base, agent, 500), 1)
            results["sla_sweep_ms_1m"] = round(timed_sweep(100), 1)
            results["sla_sweep_ms_1m_1000_due"] = round(timed_sweep(1_000), 1)
            timings = queue_pages(base, manager, 200)
            results["queue_page_p50_ms_1m"] = round(percentile(timings, 0.5), 1)
            results["queue_page_p99_ms_1m"] = round(percentile(timings, 0.99), 1)
        finally:
            server.terminate()
            server.wait(timeout=30)
    results["load_average_end"] = [round(load, 2) for load in os.getloadavg()]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
