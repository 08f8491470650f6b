"""The recall engine at scale: audience materialisation, dispatch throughput, the rate limit.

    python -m benchmarks.recall [--quick]

Prints one JSON object as its last line with materialize_1m_s_sqlite,
materialize_1m_s_postgres, dispatch_msgs_per_s, naive_msgs_per_s, ratio,
rate_limit_accuracy and peak_rss_mb. The fake Twilio server runs in its own process with
50 ms latency and no status callbacks; the dispatcher is this process's one worker."""

import argparse
import asyncio
import json
import resource
import time
from datetime import UTC, datetime

import httpx
from sqlmodel import Session, func, select
from twilio.rest import Client

from benchmarks._support import (
    ACCOUNT,
    SENDER,
    TOKEN,
    configure,
    fake_server,
    fake_state,
    populate,
    send_at_full_speed,
    throwaway_database,
)
from incident_cmd import aio, db
from incident_cmd.auth import service as auth_service
from incident_cmd.campaigns import service
from incident_cmd.campaigns.models import UNFINISHED, Delivery
from incident_cmd.campaigns.schemas import Audience, CampaignCreate
from incident_cmd.campaigns.sending import bulk_sender


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def campaign_for(batch: str) -> int:
    with db.session_scope() as session:
        # Only a duty manager marks a campaign safety-critical by hand; a second person approves.
        creator = auth_service.get_user_by_username(session, username="bench.duty")
        campaign = service.create_campaign(
            session,
            actor=creator,
            data=CampaignCreate(
                name=f"recall {batch}",
                channel="sms",
                template="recall_notice",
                audience=Audience(rule="scope_purchasers", batches=[batch]),
                safety_critical=True,
            ),
        )
        approver = auth_service.get_user_by_username(session, username="approver")
        service.approve(session, campaign=campaign, actor=approver)
        return campaign.id


def timed_materialize(campaign_id: int) -> tuple[int, float]:
    with Session(db.get_engine()) as session:
        campaign = service.get_campaign(session, campaign_id=campaign_id)
        started = time.perf_counter()
        rows = service.materialize(session, campaign=campaign)
        session.commit()
        return rows, time.perf_counter() - started


def start_campaign(campaign_id: int) -> None:
    with db.session_scope() as session:
        service.start_due_campaigns(session)
    with Session(db.get_engine()) as session:
        assert service.get_campaign(session, campaign_id=campaign_id).status == "sending"


def cancel(campaign_id: int) -> None:
    with db.session_scope() as session:
        campaign = service.get_campaign(session, campaign_id=campaign_id)
        approver = auth_service.get_user_by_username(session, username="approver")
        service.cancel(session, campaign=campaign, actor=approver)


def unfinished() -> int:
    with Session(db.get_engine()) as session:
        return session.exec(
            select(func.count()).select_from(Delivery).where(Delivery.status.in_(UNFINISHED))
        ).one()


async def dispatch_all() -> float:
    dispatcher = bulk_sender(db.get_engine())
    stop = asyncio.Event()

    async def watch() -> None:
        while await asyncio.to_thread(unfinished):
            await asyncio.sleep(0.2)
        stop.set()

    started = time.perf_counter()
    watcher = asyncio.create_task(watch())
    await dispatcher.run(stop)
    await watcher
    elapsed = time.perf_counter() - started
    await dispatcher.close()
    return elapsed


def naive_rate(url: str, count: int) -> float:
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = url
    started = time.perf_counter()
    for n in range(count):
        client.messages.create(to=f"+86139{n:08d}", from_=SENDER, body="naive loop")
    return count / (time.perf_counter() - started)


def materialize_on(backend: str, size: int) -> float:
    with throwaway_database(backend):
        populate(backend, size, {"B7": size})
        rows, seconds = timed_materialize(campaign_for("B7"))
        assert rows == size, rows
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same keys")
    args = parser.parse_args()
    size = 100_000 if args.quick else 1_000_000
    dispatch_count = 5_000 if args.quick else 20_000
    naive_count = 40 if args.quick else 200
    rate_count = 300 if args.quick else 1_000
    send_at_full_speed()

    results: dict[str, float | int | str] = {
        "mode": "quick" if args.quick else "full",
        "materialize_rows": size,
    }
    results["materialize_1m_s_sqlite"] = round(materialize_on("sqlite", size), 2)
    results["materialize_1m_s_postgres"] = round(materialize_on("postgres", size), 2)

    fake, url = fake_server(latency_ms=50)
    try:
        configure(twilio_api_base=url)
        with throwaway_database("sqlite"):
            populate("sqlite", size, {"B7": size, "BSEND": dispatch_count, "BRATE": rate_count})
            big = campaign_for("B7")
            timed_materialize(big)  # the worker's 1M materialisation, counted in peak_rss_mb
            cancel(big)
            send_campaign = campaign_for("BSEND")
            start_campaign(send_campaign)
            elapsed = aio.run(dispatch_all())
            state = fake_state(url)
            assert state["count"] == dispatch_count == state["recipients"], state["count"]
            results["dispatch_messages"] = dispatch_count
            results["dispatch_msgs_per_s"] = round(dispatch_count / elapsed, 1)

            httpx.post(f"{url}/_fake/reset?keep_requests=0")
            configure(send_rate_per_second="100")
            start_campaign(campaign_for("BRATE"))
            aio.run(dispatch_all())
            times = sorted(fake_state(url)["created_times"])
            achieved = (len(times) - 1) / (times[-1] - times[0])
            results["rate_limit_configured"] = 100
            results["rate_limit_achieved"] = round(achieved, 2)
            results["rate_limit_accuracy"] = round(achieved / 100, 3)
        results["peak_rss_mb"] = round(rss_mb(), 1)
        results["naive_msgs_per_s"] = round(naive_rate(url, naive_count), 1)
        results["ratio"] = round(results["dispatch_msgs_per_s"] / results["naive_msgs_per_s"], 1)
    finally:
        fake.terminate()
        fake.wait()
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
