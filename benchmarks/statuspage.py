"""The public status page under load, against a bare Starlette "hello world" on this machine.

    python -m benchmarks.statuspage [--quick]

On PostgreSQL, while an `incident-cmd worker` process sends a 100,000-message recall campaign
with no rate limit to the Twilio-compatible server (its own process, 50 ms latency), `wrk`
(Debian's package: `apt-get install wrk`) keeps 200 connections busy first on a bare
Starlette app answering "hello world", then on `/status/{number}` of an incident with three
published statements, each served by one uvicorn process with the same settings (uvicorn's
automatic choice of event loop and HTTP parser, the project's access log). Both are measured
in the same run, on the same machine, under the same campaign: the ratio says what the page
costs over the bare framework. wrk sends no If-None-Match: no answer is a 304, and the page is
rendered whenever the application's short-lived copy of it (web.public_cache, 2 s) runs out.
The machine's processors and load average are in the figures: other work on it (a test run)
slows both servers, the bare one too.

Without wrk it says so and stops (exit status 2): a Python load generator would measure
itself. Prints one JSON object as its last line with bare_rps, bare_p99_ms, status_rps,
status_p99_ms, ratio, goal_met (ratio >= 0.7 and status p99 < 100 ms), the same p99s and the
page's rate at 50 connections (bare_p99_ms_at_50, status_rps_at_50, status_p99_ms_at_50), non_2xx,
socket_errors, campaign_still_sending_after, cpus and load_average."""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks._support import (
    fake_state,
    process,
    running_server,
    running_worker,
    sending_world,
    wait_for_full_flow,
)
from benchmarks.recall import campaign_for, start_campaign
from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.devtools.local_server import free_port
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.statements import flows as statement_flows
from incident_cmd.statements.schemas import StatementDraft

GOAL_RATIO = 0.7
GOAL_P99_MS = 100.0
STAGES = ("recall_announced", "recall_in_progress", "recall_in_progress")
# Both servers are saturated at 200 connections on a small machine, where the tail measures
# how fairly the server shares its one core among connections, the bare app's too; at 50 the
# tail is the page's own cost.
FEWER_CLIENTS = 50
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def hello_world() -> Starlette:
    async def hello(_request) -> PlainTextResponse:
        return PlainTextResponse("hello world")

    return Starlette(routes=[Route("/", hello)])


def serve_bare(port: int) -> None:
    """Run in a process of its own: the bare app, served as `incident-cmd serve` serves."""
    import uvicorn

    from incident_cmd.web.security import uvicorn_log_config

    uvicorn.run(
        hello_world(),
        host="127.0.0.1",
        port=port,
        log_level="info",
        log_config=uvicorn_log_config(),
    )


def published_recall() -> str:
    """A recall with three statements published (drafted by the comms user, approved by the
    duty manager); its number."""
    with db.session_scope() as session:
        duty = auth_service.get_user_by_username(session, username="duty")
        spokesperson = auth_service.get_user_by_username(session, username="approver")
        incident = incident_flows.declare(
            session,
            registry=PlaybookRegistry.from_settings(),
            actor=duty,
            data=IncidentDeclare(
                playbook="product-recall",
                title="Benchmark recall",
                severity="sev1",
                scope=Scope(products=["PX-200"], batches=["BULK"], regions=["Guangdong"]),
            ),
        )
        for stage in STAGES:
            statement = statement_flows.draft(
                session,
                incident_id=incident.id,
                data=StatementDraft.model_validate({"stage": stage}),
                actor=spokesperson,
            )
            statement_flows.approve(
                session, incident_id=incident.id, statement_id=statement.id, actor=duty
            )
            statement_flows.publish(
                session, incident_id=incident.id, statement_id=statement.id, actor=spokesperson
            )
        return incident.number


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * UNITS_MS[unit]


def wrk(url: str, *, clients: int, seconds: int) -> dict[str, float]:
    """wrk's requests per second, p50 and p99 (ms), non-2xx/3xx answers and socket errors."""
    output = subprocess.run(
        [
            "wrk",
            "--threads",
            "2",
            "--connections",
            str(clients),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "--header",
            "Accept-Language: zh-CN,zh;q=0.9",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if len(percentiles) != 2:
        raise RuntimeError(f"wrk measured nothing at {url}:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": _milliseconds(percentiles["50"]),
        "p99_ms": _milliseconds(percentiles["99"]),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def running_bare() -> tuple[subprocess.Popen, str]:
    port = free_port()
    bare = process("-c", f"from benchmarks.statuspage import serve_bare; serve_bare({port})")
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            httpx.get(url)
            return bare, url
        except httpx.ConnectError:
            time.sleep(0.05)  # waiting for the server to listen, not measuring
    raise RuntimeError("the bare app did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same keys")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        message = "wrk is missing: install it (apt-get install wrk); nothing was measured"
        print(message, file=sys.stderr)
        print(json.dumps({"error": message}))
        sys.exit(2)
    customers = 20_000 if args.quick else 100_000
    seconds = 5 if args.quick else 15
    clients = 200
    with sending_world(customers) as fake_url:
        number = published_recall()
        with running_server() as url:
            page = f"{url}/status/{number}"
            assert httpx.get(page).status_code == 200
            start_campaign(campaign_for("BULK"))
            with running_worker():
                wait_for_full_flow(fake_url, customers)
                sent_before, started = fake_state(fake_url)["count"], time.time()
                bare, bare_url = running_bare()
                try:
                    wrk(bare_url, clients=clients, seconds=2)  # warm-up
                    bare_figures = wrk(bare_url, clients=clients, seconds=seconds)
                    bare_fewer = wrk(bare_url, clients=FEWER_CLIENTS, seconds=seconds)
                finally:
                    bare.terminate()
                    bare.wait(timeout=30)
                wrk(page, clients=clients, seconds=2)  # warm-up
                status_figures = wrk(page, clients=clients, seconds=seconds)
                status_fewer = wrk(page, clients=FEWER_CLIENTS, seconds=seconds)
                sent = fake_state(fake_url)["count"]
                window = time.time() - started
    ratio = status_figures["rps"] / bare_figures["rps"]
    load_average = os.getloadavg()[0]
    results = {
        "mode": "quick" if args.quick else "full",
        "campaign_size": customers,
        "clients": clients,
        "seconds_each": seconds,
        "bare_rps": round(bare_figures["rps"], 1),
        "bare_p99_ms": round(bare_figures["p99_ms"], 2),
        "status_rps": round(status_figures["rps"], 1),
        "status_p50_ms": round(status_figures["p50_ms"], 2),
        "status_p99_ms": round(status_figures["p99_ms"], 2),
        "ratio": round(ratio, 3),
        "bare_p99_ms_at_50": round(bare_fewer["p99_ms"], 2),
        "status_rps_at_50": round(status_fewer["rps"], 1),
        "status_p99_ms_at_50": round(status_fewer["p99_ms"], 2),
        "goal_met": ratio >= GOAL_RATIO and status_figures["p99_ms"] < GOAL_P99_MS,
        "non_2xx": bare_figures["non_2xx"] + status_figures["non_2xx"],
        "socket_errors": bare_figures["socket_errors"] + status_figures["socket_errors"],
        "campaign_msgs_per_s_during": round((sent - sent_before) / window, 1),
        "campaign_still_sending_after": sent < customers,
        "cpus": os.cpu_count(),
        "load_average": round(load_average, 2),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
