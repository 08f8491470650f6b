"""Exactly once under faults, crashes and concurrent workers."""

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from incident_cmd import clock, db
from incident_cmd.campaigns.models import DeliveryStatus
from incident_cmd.campaigns.sending import bulk_sender
from incident_cmd.config import get_settings
from incident_cmd.devtools.fake_twilio import Faults
from incident_cmd.messaging import suppression
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch
from tests.plugins.twilio import ACCOUNT, SENDER, TOKEN

FINAL = {DeliveryStatus.sent, DeliveryStatus.delivered}


def test_faulty_provider_still_delivers_exactly_once(world, twilio, frozen_clock, monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_TWILIO_TIMEOUT_SECONDS", "0.3")
    get_settings.cache_clear()
    twilio.fake.state.faults = Faults(
        rate_429=0.07,
        rate_500=0.07,
        rate_timeout=0.06,
        timeout_seconds=0.6,
        rolls=random.Random(4),
    )
    world.import_customers(shanghai_customers(60))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    for _ in range(30):
        dispatch()
        if all(d.status in FINAL for d in world.deliveries(campaign_id)):
            break
        frozen_clock.advance(timedelta(minutes=16))
    answered = twilio.fake.state.answered
    assert answered["429"] and answered["500"] and answered["timeout"], answered
    assert all(d.status in FINAL for d in world.deliveries(campaign_id))
    per_recipient = twilio.fake.counts_by_recipient()
    assert len(per_recipient) == 60
    assert set(per_recipient.values()) == {1}
    providers = {d.provider_id for d in world.deliveries(campaign_id)}
    assert providers == set(twilio.fake.state.messages)


def test_permanent_errors_are_not_retried_and_21610_suppresses(world, twilio, frozen_clock):
    rows = shanghai_customers(4)
    twilio.fake.state.faults = Faults(error_numbers={rows[0][2]: 21211, rows[1][2]: 21610})
    world.import_customers(rows)
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    dispatch()
    frozen_clock.advance(timedelta(hours=1))
    assert dispatch() == 0
    by_address = {d.address: d for d in world.deliveries(campaign_id)}
    assert (by_address[rows[0][2]].status, by_address[rows[0][2]].error_code) == ("failed", "21211")
    assert by_address[rows[0][2]].attempts == 1
    assert by_address[rows[1][2]].error_code == "21610"
    with db.session_scope() as session:
        assert suppression.is_suppressed(session, channel="sms", address=rows[1][2])
        assert not suppression.is_suppressed(session, channel="sms", address=rows[0][2])


def test_two_workers_on_postgres_share_a_campaign_without_duplicates(world, twilio, database):
    if database.backend != "postgres":
        pytest.skip("several workers run only on PostgreSQL")
    twilio.fake.state.latency = 0.02  # long enough that both workers are surely running
    world.import_customers(shanghai_customers(400))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    handled = []

    def worker():
        async def main():
            dispatcher = bulk_sender(db.get_engine())
            dispatcher.batch_size = 25
            try:
                handled.append(await dispatcher.drain())
            finally:
                await dispatcher.close()

        asyncio.run(main())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(handled) == 400
    assert all(count > 0 for count in handled), handled
    per_recipient = twilio.fake.counts_by_recipient()
    assert len(per_recipient) == 400 and set(per_recipient.values()) == {1}
    assert all(d.status == DeliveryStatus.sent for d in world.deliveries(campaign_id))


def _worker(env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "incident_cmd.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling another process, not controlling time


def test_worker_killed_mid_campaign_resumes_without_duplicates(
    world, twilio, use_database, tmp_path
):
    # The worker runs on the real clock, so the campaign is started on it too.
    with clock.use(lambda: datetime.now(UTC)):
        customers = shanghai_customers(300)
        world.import_customers(customers)
        campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")  # safety-critical
        world.approve_and_start(campaign_id)
    twilio.fake.state.latency = 0.01
    env = {
        **os.environ,
        "INCIDENT_CMD_DATABASE_URL": use_database.url,
        "INCIDENT_CMD_TWILIO_ACCOUNT_SID": ACCOUNT,
        "INCIDENT_CMD_TWILIO_AUTH_TOKEN": TOKEN,
        "INCIDENT_CMD_TWILIO_SENDER": SENDER,
        "INCIDENT_CMD_TWILIO_API_BASE": twilio.url,
        "INCIDENT_CMD_SEND_RATE_PER_SECOND": "100",
        "INCIDENT_CMD_DISPATCH_LEASE_SECONDS": "2",
        "INCIDENT_CMD_SWEEP_INTERVAL_SECONDS": "0.5",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        first = _worker(env, log)
        try:
            with contextlib.suppress(AssertionError):
                _wait_for(
                    lambda: len(twilio.fake.state.messages) >= 60 or first.poll() is not None,
                    60,
                    "the first messages",
                )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    assert first.returncode == -signal.SIGKILL, log_path.read_text()[-2000:]
    assert len(twilio.fake.state.messages) >= 60, log_path.read_text()[-2000:]
    sent_before_restart = len(twilio.fake.state.messages)
    assert sent_before_restart < 300
    second = _worker(env, log_path.open("ab"))
    try:
        _wait_for(
            lambda: world.campaign(campaign_id).status == "completed",
            90,
            "the campaign to complete",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)  # the direct lane's process stops first
    # The worker also pages the recall's roster; only the customers are counted here.
    phones = {row[2] for row in customers}
    per_recipient = {
        phone: count
        for phone, count in twilio.fake.counts_by_recipient().items()
        if phone in phones
    }
    assert len(per_recipient) == 300
    assert set(per_recipient.values()) == {1}
    assert all(d.status == DeliveryStatus.sent for d in world.deliveries(campaign_id))
