"""One message that cannot be built or sent fails alone: the others go out exactly once, their
outcomes are recorded, and the sender keeps running."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update
from sqlmodel import col

from incident_cmd import clock, db
from incident_cmd.campaigns.models import Delivery, DeliveryStatus
from incident_cmd.campaigns.sending import bulk_sender
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Purchase
from incident_cmd.devtools.fake_twilio import Faults
from incident_cmd.messaging.channels import Outcome, TwilioSmsChannel, channels_for
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch
from tests.plugins.twilio import ACCOUNT, SENDER, TOKEN

INJECTED = "PX-200\r\nBcc: everyone@example.net"


def _poison_product(external_ref: str) -> None:
    """As a row written before import refused line breaks, or by another system, would be."""
    with db.session_scope() as session:
        customer_id = session.execute(
            text("SELECT id FROM customers WHERE external_ref = :ref"), {"ref": external_ref}
        ).scalar_one()
        session.execute(
            update(Purchase)
            .where(col(Purchase.customer_id) == customer_id)
            .values(product_model=INJECTED)
        )


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling another process, not controlling time


def _settled(world, campaign_id: int) -> bool:
    return all(
        d.status not in (DeliveryStatus.pending, DeliveryStatus.sending)
        for d in world.deliveries(campaign_id)
    )


def test_a_poisoned_row_fails_alone_in_a_running_worker_over_smtp_and_twilio(
    world, twilio, smtp, use_database, tmp_path
):
    rows = shanghai_customers(40)
    poisoned_ref, poisoned_phone = rows[7][0], rows[7][2]
    # The worker runs on the real clock, so the campaigns are declared on it too.
    with clock.use(lambda: datetime.now(UTC)):
        world.import_customers(rows)
        _poison_product(poisoned_ref)
        incident_id = world.declare_recall()
        email_id = world.campaign_for(incident_id, "recall_email")
        sms_id = world.campaign_for(incident_id, "recall_sms")
        world.approve_and_start(email_id)
        world.approve_and_start(sms_id)
    settings = get_settings()
    env = {
        **os.environ,
        "INCIDENT_CMD_DATABASE_URL": use_database.url,
        "INCIDENT_CMD_TWILIO_ACCOUNT_SID": ACCOUNT,
        "INCIDENT_CMD_TWILIO_AUTH_TOKEN": TOKEN,
        "INCIDENT_CMD_TWILIO_SENDER": SENDER,
        "INCIDENT_CMD_TWILIO_API_BASE": twilio.url,
        "INCIDENT_CMD_SMTP_HOST": settings.smtp_host,
        "INCIDENT_CMD_SMTP_PORT": str(settings.smtp_port),
        "INCIDENT_CMD_SMTP_SENDER": settings.smtp_sender,
        "INCIDENT_CMD_PUBLIC_BASE_URL": settings.public_base_url,
        "INCIDENT_CMD_SEND_RATE_PER_SECOND": "0",
        "INCIDENT_CMD_SWEEP_INTERVAL_SECONDS": "0.5",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "incident_cmd.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            _wait_for(
                lambda: (
                    (_settled(world, email_id) and _settled(world, sms_id))
                    or worker.poll() is not None
                ),
                90,
                "both campaigns to settle",
            )
            assert worker.poll() is None, log_path.read_text()[-3000:]
            # Still alive and still sending: a later campaign goes out from the same worker.
            with clock.use(lambda: datetime.now(UTC)):
                later_rows = shanghai_customers(3, batch="B8", start=100)
                world.import_customers(later_rows)
                later_id = world.campaign_for(world.declare_recall(["B8"]), "recall_sms")
                world.approve_and_start(later_id)
            _wait_for(lambda: _settled(world, later_id), 60, "the later campaign")
            assert worker.poll() is None, log_path.read_text()[-3000:]
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)

    good_emails = sorted(f"{ref.lower()}@example.com" for ref, *_ in rows if ref != poisoned_ref)
    received = sorted(address for recipients, _ in smtp.messages for address in recipients)
    assert received == good_emails  # each good recipient once, the poisoned one never
    assert all("Bcc" not in str(message) for _, message in smtp.messages)
    # The worker also pages the recalls' rosters; only the customers are counted here.
    customer_phones = {row[2] for row in [*rows, *later_rows]}
    per_number = {
        phone: count
        for phone, count in twilio.fake.counts_by_recipient().items()
        if phone in customer_phones
    }
    assert poisoned_phone not in per_number
    assert len(per_number) == len(rows) - 1 + 3 and set(per_number.values()) == {1}
    for campaign_id in (email_id, sms_id):
        by_status = {}
        for delivery in world.deliveries(campaign_id):
            by_status.setdefault(delivery.status, []).append(delivery)
        assert len(by_status[DeliveryStatus.failed]) == 1
        assert len(by_status[DeliveryStatus.sent]) == len(rows) - 1
        poisoned = by_status[DeliveryStatus.failed][0]
        assert "product" in poisoned.error_message and "line break" in poisoned.error_message
        assert poisoned.attempts == 1


class Misbehaving(TwilioSmsChannel):
    """The real Twilio channel, with two recipients whose sends go wrong in ways no provider
    error describes: one raises, one comes back with text PostgreSQL will not store."""

    def __init__(self, settings, raises_for: str, nul_for: str) -> None:
        super().__init__(settings)
        self.raises_for, self.nul_for = raises_for, nul_for

    async def send(self, message):
        if message.address == self.raises_for:
            raise RuntimeError("the client library fell over")
        if message.address == self.nul_for:
            return Outcome("transient", error_code="30008", error_message="bad\x00reply")
        return await super().send(message)


def test_a_raising_channel_and_an_unstorable_outcome_cost_the_batch_nothing(world, twilio):
    rows = shanghai_customers(30)
    raises_for, nul_for, refused = rows[3][2], rows[11][2], rows[20][2]
    twilio.fake.state.faults = Faults(error_numbers={refused: 21211})
    world.import_customers(rows)
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    settings = get_settings()

    async def main() -> int:
        channels = {(name, False): channel for name, channel in channels_for(settings).items()}
        channels["sms", False] = Misbehaving(settings, raises_for=raises_for, nul_for=nul_for)
        dispatcher = bulk_sender(db.get_engine(), channels=channels)
        try:
            return await dispatcher.drain()
        finally:
            await dispatcher.close()

    assert asyncio.run(main()) == 30
    by_address = {d.address: d for d in world.deliveries(campaign_id)}
    assert by_address[raises_for].status == DeliveryStatus.failed
    assert by_address[raises_for].error_message == "RuntimeError: the client library fell over"
    assert by_address[refused].status == DeliveryStatus.failed
    assert by_address[refused].error_code == "21211"
    # Stored as it could be: retried later on SQLite, failed with the reason on PostgreSQL.
    assert by_address[nul_for].status in (DeliveryStatus.pending, DeliveryStatus.failed)
    assert by_address[nul_for].provider_id is None
    others = {a: d for a, d in by_address.items() if a not in (raises_for, nul_for, refused)}
    assert {d.status for d in others.values()} == {DeliveryStatus.sent}
    assert all(d.provider_id in twilio.fake.state.messages for d in others.values())
    per_number = twilio.fake.counts_by_recipient()
    assert set(per_number) == set(others) and set(per_number.values()) == {1}


def test_a_lost_outcome_stays_unknown_while_the_provider_cannot_be_asked(
    world, twilio, frozen_clock
):
    rows = shanghai_customers(3)
    world.import_customers(rows)
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    assert dispatch() == 3
    lost = world.deliveries(campaign_id)[0]
    max_attempts = get_settings().dispatch_max_attempts
    with db.session_scope() as session:
        # The answer to the last allowed attempt was lost (a worker died holding the lease).
        session.execute(
            update(Delivery)
            .where(col(Delivery.id) == lost.id)
            .values(status=DeliveryStatus.unknown, provider_id=None, attempts=max_attempts)
        )
    twilio.fake.state.faults = Faults(lookups_unavailable=True)
    for _ in range(4):
        frozen_clock.advance(timedelta(minutes=20))
        assert dispatch() == 1
        again = next(d for d in world.deliveries(campaign_id) if d.id == lost.id)
        assert again.status == DeliveryStatus.unknown
        assert "503" in again.error_message or "unavailable" in again.error_message.lower()
    twilio.fake.state.faults = Faults()
    frozen_clock.advance(timedelta(minutes=20))
    assert dispatch() == 1
    settled = next(d for d in world.deliveries(campaign_id) if d.id == lost.id)
    # The provider had it all along: adopted, never sent a second time.
    assert (settled.status, settled.provider_id) == (DeliveryStatus.sent, lost.provider_id)
    assert set(twilio.fake.counts_by_recipient().values()) == {1}


def test_an_unknown_outcome_the_provider_has_no_trace_of_fails_after_the_last_attempt(
    world, twilio, frozen_clock
):
    world.import_customers(shanghai_customers(1))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    [delivery] = world.deliveries(campaign_id)
    attempts = get_settings().dispatch_max_attempts
    with db.session_scope() as session:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery.id)
            .values(status=DeliveryStatus.unknown, attempts=attempts)
        )
    assert dispatch() == 1
    [settled] = world.deliveries(campaign_id)
    assert settled.status == DeliveryStatus.failed
    assert "no such message" in settled.error_message
    assert twilio.fake.counts_by_recipient() == {}
