"""Page latency while a large customer campaign is being dispatched at full speed.

    python -m benchmarks.paging [--quick]

On PostgreSQL, one `incident-cmd worker` process (the dispatcher and the paging lane share its
event loop, as in production) sends a 100,000-message recall campaign with no rate limit to
the Twilio-compatible server (its own process, 50 ms latency). Meanwhile this process
declares incidents one after another (after one warm-up declaration before the campaign, as
a running server is warm); each pages six roles by SMS at once. The latency of a page is from
the start of its declaration to its request arriving at the server.

Prints one JSON object as its last line with page_latency_p50_ms, page_latency_p99_ms,
page_latency_max_ms, pages, campaign_messages_during and campaign_msgs_per_s_during."""

import argparse
import json
import time
from datetime import datetime

import httpx
from sqlmodel import Session, col, select

from benchmarks._support import (
    fake_state,
    percentile,
    running_worker,
    sending_world,
    wait_for_full_flow,
)
from benchmarks.recall import campaign_for, start_campaign
from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.incidents import flows
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.paging.models import Page, PageTarget
from incident_cmd.playbooks.service import PlaybookRegistry


def declare(registry: PlaybookRegistry, n: int) -> int:
    with db.session_scope() as session:
        duty = auth_service.get_user_by_username(session, username="duty")
        incident = flows.declare(
            session,
            registry=registry,
            actor=duty,
            data=IncidentDeclare(
                playbook="product-recall",
                title=f"Benchmark recall {n}",
                severity="sev1",
                scope=Scope(batches=[f"BX{n}"]),
            ),
        )
        return incident.id


def direct_messages(incident_ids: list[int]) -> list[tuple[int, str, str | None, datetime | None]]:
    """(incident id, address, provider id, claimed at) of every page message of these
    incidents."""
    with Session(db.get_engine()) as session:
        return list(
            session.exec(
                select(
                    Page.incident_id,
                    DirectMessage.address,
                    DirectMessage.provider_id,
                    DirectMessage.last_attempt_at,
                )
                .join(PageTarget, col(PageTarget.id) == DirectMessage.source_id)
                .join(Page, col(Page.id) == PageTarget.page_id)
                .where(col(Page.incident_id).in_(incident_ids))
            ).all()
        )


def arrivals(url: str, addresses: set[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for address in addresses:
        state = httpx.get(
            f"{url}/_fake/messages", params={"To": address, "full": "0"}, timeout=30
        ).json()
        found.update(state["arrivals"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same keys")
    args = parser.parse_args()
    customers = 20_000 if args.quick else 100_000
    incidents = 5 if args.quick else 20
    with sending_world(customers) as url:
        campaign = campaign_for("BULK")
        start_campaign(campaign)
        registry = PlaybookRegistry.from_settings()
        # A server declares warm; the first declaration of a process (templates, query
        # compilation) is timed apart.
        began = time.time()
        declare(registry, -1)
        cold_declare_ms = (time.time() - began) * 1000
        with running_worker():
            wait_for_full_flow(url, customers)
            window_start, sent_before = time.time(), fake_state(url)["count"]
            started: dict[int, float] = {}
            committed: dict[int, float] = {}
            for n in range(incidents):
                began = time.time()
                incident_id = declare(registry, n)
                started[incident_id], committed[incident_id] = began, time.time()
                time.sleep(1.0)  # pacing between declarations, outside what is measured
            window = time.time() - window_start
            sent_during = fake_state(url)["count"] - sent_before
            deadline = time.time() + 60
            while True:
                rows = direct_messages(list(started))
                if all(row[2] for row in rows) or time.time() > deadline:
                    break
                time.sleep(0.2)
            arrived = arrivals(url, {row[1] for row in rows})
            latencies = [
                (arrived[provider] - started[incident_id]) * 1000
                for incident_id, _, provider, _ in rows
                if provider in arrived
            ]
            declaring = [(committed[key] - started[key]) * 1000 for key in started]
            to_claim = [
                (claimed.timestamp() - committed[incident_id]) * 1000
                for incident_id, _, _, claimed in rows
            ]
            to_arrival = [
                (arrived[provider] - claimed.timestamp()) * 1000
                for _, _, provider, claimed in rows
                if provider in arrived
            ]
            assert len(latencies) == len(rows), f"{len(rows) - len(latencies)} pages not sent"
            campaign_left = customers - fake_state(url)["count"] + len(rows)
    results = {
        "mode": "quick" if args.quick else "full",
        "campaign_size": customers,
        "pages": len(latencies),
        "page_latency_p50_ms": round(percentile(latencies, 0.50), 1),
        "page_latency_p99_ms": round(percentile(latencies, 0.99), 1),
        "page_latency_max_ms": round(max(latencies), 1),
        # Where the time goes: declaring, waiting to be claimed, the provider request.
        "declare_p50_ms": round(percentile(declaring, 0.50), 1),
        "cold_declare_ms": round(cold_declare_ms, 1),
        "commit_to_claim_p50_ms": round(percentile(to_claim, 0.50), 1),
        "claim_to_arrival_p50_ms": round(percentile(to_arrival, 0.50), 1),
        "campaign_messages_during": sent_during,
        "campaign_msgs_per_s_during": round(sent_during / window, 1),
        "campaign_still_sending_after": campaign_left > 0,
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
