"""Live updates under load: how long a committed change takes to reach the browsers.

    python -m benchmarks.live [--quick]

On PostgreSQL, `incident-cmd serve` (one uvicorn process) serves 200 SSE clients, all on
one incident room (GET /live/incidents/{id}), while an `incident-cmd worker` process sends a
100,000-message recall campaign of that incident with no rate limit to the Twilio-compatible
server (its own process, 50 ms latency), so the room also hears the campaign's progress. A
third process appends an entry to the incident's timeline every 100 ms and notes when each
commit returned. The latency of an entry is from its commit to its arrival at a client, for
every entry and every client (all processes on this machine, one wall clock).

Prints one JSON object as its last line with live_latency_p50_ms, live_latency_p99_ms,
live_latency_max_ms, clients, entries, deliveries, missed, resyncs,
progress_events_per_client, campaign_msgs_per_s_during, goal_p99_ms (1000) and goal_met
(p99 under the goal with no entry missed by any client: a missed entry has no latency to
count, so a p99 over the others alone would flatter the run)."""

import argparse
import asyncio
import json
import subprocess
import time

import httpx
from sqlalchemy import update

from benchmarks._support import (
    duty_manager_cookie,
    fake_state,
    percentile,
    process,
    running_server,
    running_worker,
    sending_world,
    wait_for_full_flow,
)
from benchmarks.recall import campaign_for, start_campaign
from incident_cmd import aio, db
from incident_cmd.auth import service as auth_service
from incident_cmd.campaigns.models import Campaign
from incident_cmd.incidents import flows
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.timeline import service as timeline

ENTRY_INTERVAL_SECONDS = 0.1
ENTRY_KIND = "bench.entry."
# How long after the last entry a client may still be waiting for it.
DRAIN_SECONDS = 10.0
# The goal: a change made anywhere appears in every viewer's room within a second.
GOAL_P99_MS = 1000.0


def write_entries(incident_id: int, count: int) -> None:
    """Run in a process of its own: appends ``count`` entries to the incident's timeline, one
    transaction each, and prints {entry number: wall time its commit returned} as JSON."""
    import incident_cmd.models  # noqa: F401 (every table, for the foreign keys)

    committed: dict[int, float] = {}
    for n in range(count):
        with db.session_scope() as session:
            timeline.append(
                session,
                subject_type="incident",
                subject_id=incident_id,
                kind=f"{ENTRY_KIND}{n}",
                summary=f"benchmark entry {n}",
                actor_id=None,
            )
        committed[n] = time.time()
        time.sleep(ENTRY_INTERVAL_SECONDS)  # pacing between entries, outside what is measured
    print(json.dumps(committed))


def declare() -> int:
    with db.session_scope() as session:
        duty = auth_service.get_user_by_username(session, username="duty")
        incident = flows.declare(
            session,
            registry=PlaybookRegistry.from_settings(),
            actor=duty,
            data=IncidentDeclare(
                playbook="product-recall",
                title="Benchmark recall",
                severity="sev1",
                scope=Scope(batches=["BLIVE"]),
            ),
        )
        return incident.id


def sending_campaign(incident_id: int) -> int:
    """The big campaign, as the incident's: its progress reaches the room's viewers too."""
    campaign_id = campaign_for("BULK")
    with db.session_scope() as session:
        session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(incident_id=incident_id)
        )
    start_campaign(campaign_id)
    return campaign_id


class Viewer:
    """One browser on the incident room: when each entry arrived, and what else it heard."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.progress = 0
        self.resyncs = 0
        self.open = asyncio.Event()

    async def watch(self, client: httpx.AsyncClient, path: str, last: int) -> None:
        async with client.stream("GET", path) as response:
            response.raise_for_status()
            self.open.set()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                arrived = time.time()
                kind = json.loads(line.removeprefix("data:"))["kind"]
                if kind.startswith(ENTRY_KIND):
                    number = int(kind.removeprefix(ENTRY_KIND))
                    self.arrivals[number] = arrived
                    if number == last:
                        return
                elif kind == "campaign.progress":
                    self.progress += 1
                elif kind == "live.resync":
                    self.resyncs += 1


async def watch_room(
    url: str, cookies: dict[str, str], incident_id: int, clients: int, entries: int, fake: str
) -> tuple[list[Viewer], dict[int, float], float, int]:
    """Opens the viewers, has another process write the entries, and waits for them to
    arrive; returns the viewers, the commit times, and the window's length and sends."""
    viewers = [Viewer() for _ in range(clients)]
    limits = httpx.Limits(max_connections=clients + 10)
    timeout = httpx.Timeout(30.0, read=DRAIN_SECONDS + entries * ENTRY_INTERVAL_SECONDS * 4)
    async with httpx.AsyncClient(
        base_url=url, cookies=cookies, limits=limits, timeout=timeout
    ) as client:
        path = f"/live/incidents/{incident_id}"
        watching = [
            asyncio.create_task(viewer.watch(client, path, entries - 1)) for viewer in viewers
        ]
        await asyncio.wait_for(asyncio.gather(*(viewer.open.wait() for viewer in viewers)), 60)
        sent_before, started = (await asyncio.to_thread(fake_state, fake))["count"], time.time()
        writer = process(
            "-c",
            f"from benchmarks.live import write_entries; write_entries({incident_id}, {entries})",
            output=subprocess.PIPE,
        )
        output, _ = await asyncio.to_thread(writer.communicate)
        window = time.time() - started
        sent_during = (await asyncio.to_thread(fake_state, fake))["count"] - sent_before
        committed = {int(n): at for n, at in json.loads(output).items()}
        _, pending = await asyncio.wait(watching, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
    return viewers, committed, window, sent_during


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same keys")
    args = parser.parse_args()
    customers = 20_000 if args.quick else 100_000
    clients = 50 if args.quick else 200
    entries = 30 if args.quick else 100
    with sending_world(customers) as fake_url:
        incident_id = declare()
        cookies = duty_manager_cookie("benchmark viewers")
        with running_server() as url:
            sending_campaign(incident_id)
            with running_worker():
                wait_for_full_flow(fake_url, customers)
                viewers, committed, window, sent_during = aio.run(
                    watch_room(url, cookies, incident_id, clients, entries, fake_url)
                )
                campaign_left = customers - fake_state(fake_url)["count"]
    latencies = [
        (viewer.arrivals[n] - at) * 1000
        for viewer in viewers
        for n, at in committed.items()
        if n in viewer.arrivals
    ]
    missed = clients * entries - len(latencies)
    p99 = round(percentile(latencies, 0.99), 1)
    results = {
        "mode": "quick" if args.quick else "full",
        "campaign_size": customers,
        "clients": clients,
        "entries": entries,
        "deliveries": len(latencies),
        "missed": missed,
        "resyncs": sum(viewer.resyncs for viewer in viewers),
        "live_latency_p50_ms": round(percentile(latencies, 0.50), 1),
        "live_latency_p99_ms": p99,
        "live_latency_max_ms": round(max(latencies), 1),
        "progress_events_per_client": round(
            sum(viewer.progress for viewer in viewers) / clients, 1
        ),
        "campaign_msgs_per_s_during": round(sent_during / window, 1),
        "campaign_still_sending_after": campaign_left > 0,
        "goal_p99_ms": GOAL_P99_MS,
        "goal_met": missed == 0 and p99 < GOAL_P99_MS,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
