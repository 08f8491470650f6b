"""The complaint queue at scale, on PostgreSQL.

    python -m benchmarks.tickets [--quick]

One `incident-cmd serve` process takes tickets in over HTTP from 16 concurrent clients:
intake_per_s on an empty queue, intake_per_s_1m with a million open tickets. The tables are
filled to 1,000,000 open tickets (two SLA timers each) for the rest: sla_sweep_ms_1m is one
SLA sweep finding and handling the due timers among them (100 due, about what five seconds
bring at that size; sla_sweep_ms_1m_1000_due with 1,000 due); queue_page_p99_ms_1m is the
99th percentile of filtered queue pages over HTTP (by status and priority, by assignee, by
product and batch, by breach state, by category; 50 a page); detect_lag_ms is from sending
the ticket that crosses a trigger to its signal being there (the median of ten clusters)."""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
from sqlalchemy import text
from sqlmodel import Session, select

from benchmarks._support import percentile, throwaway_database
from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.demo import seed
from incident_cmd.devtools.local_server import free_port
from incident_cmd.tickets import jobs
from incident_cmd.tickets.models import Signal

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


def serve(url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "INCIDENT_CMD_DATABASE_URL": url,
        "INCIDENT_CMD_SECRET_KEY": SECRET,
        "INCIDENT_CMD_RUN_WORKER_IN_PROCESS": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "incident_cmd.cli", "serve", "--port", str(port)],
        env=env,
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


async def intake_rate(base: str, headers: dict, count: int, clients: int = 16) -> float:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        numbers = iter(range(count))

        async def client() -> None:
            for number in numbers:
                response = await http.post("/api/v1/tickets", json=ticket_form(number))
                assert response.status_code == 201, response.text

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return count / (time.perf_counter() - started)


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
    with throwaway_database("postgres") as url:
        with db.session_scope() as session:
            seed(session)
        port = free_port()
        server = serve(url, port)
        base = f"http://127.0.0.1:{port}"
        try:
            agent = token_for("agent.sun")
            manager = token_for("duty")
            results["intake_per_s"] = round(asyncio.run(intake_rate(base, agent, 2_000)), 1)
            results["detect_lag_ms"] = round(percentile(detect_lag(base, agent, 10), 0.5), 1)
            print(json.dumps(results), file=sys.stderr)
            fill(size)
            results["intake_per_s_1m"] = round(asyncio.run(intake_rate(base, agent, 500)), 1)
            results["sla_sweep_ms_1m"] = round(timed_sweep(100), 1)
            results["sla_sweep_ms_1m_1000_due"] = round(timed_sweep(1_000), 1)
            timings = queue_pages(base, manager, 200)
            results["queue_page_p50_ms_1m"] = round(percentile(timings, 0.5), 1)
            results["queue_page_p99_ms_1m"] = round(percentile(timings, 0.99), 1)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
