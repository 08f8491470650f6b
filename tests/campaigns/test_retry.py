"""An operator retries a campaign's failed deliveries: only those never handed to a provider
are sent, once, and the retry is on the timeline."""

from sqlmodel import select
from typer.testing import CliRunner

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import CampaignStatus, DeliveryStatus
from incident_cmd.campaigns.status import record_delivery_status
from incident_cmd.cli import app as cli
from incident_cmd.devtools.fake_twilio import Faults
from incident_cmd.integrations.twilio.handlers import StatusCallback
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch


def test_retry_sends_only_to_those_never_sent_or_delivered(world, twilio, client_factory):
    rows = shanghai_customers(6)
    world.import_customers(rows)
    refused, opted_out, failed_later, undelivered, delivered, sent = (row[2] for row in rows)
    twilio.fake.state.faults = Faults(error_numbers={refused: 21211, opted_out: 21610})
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    dispatch()
    by_address = {delivery.address: delivery for delivery in world.deliveries(campaign_id)}
    with db.session_scope() as session:
        for address, status in (
            (failed_later, "failed"),
            (undelivered, "undelivered"),
            (delivered, "delivered"),
        ):
            record_delivery_status(
                session,
                StatusCallback(
                    delivery_id=by_address[address].id,
                    provider_id=by_address[address].provider_id,
                    provider_status=status,
                    error_code="30003" if status != "delivered" else None,
                ),
            )
    world.finish()
    assert world.campaign(campaign_id).status == CampaignStatus.completed
    assert world.counts(campaign_id).failed == 3
    twilio.fake.state.faults = Faults()
    before = twilio.fake.counts_by_recipient()
    assert refused not in before and opted_out not in before

    client = world.sign_in(client_factory(), agent=Role.agent)
    agent, comms = client.tokens["agent"], client.tokens["comms"]
    path = f"/api/v1/campaigns/{campaign_id}/retry-failed"
    assert client.post(path, headers=agent).status_code == 403
    answer = client.post(path, json={"note": "carrier fixed"}, headers=comms)
    assert answer.status_code == 200, answer.text
    # The refused number and the one that opted out were never handed over; the one the
    # carrier failed later, the undelivered and the delivered were.
    assert answer.json()["retried"] == 2
    assert answer.json()["campaign"]["status"] == CampaignStatus.sending
    dispatch()
    after = twilio.fake.counts_by_recipient()
    assert after[refused] == 1
    assert opted_out not in after  # still suppressed: 21610 means the person said STOP
    for address in (failed_later, undelivered, delivered, sent):
        assert after[address] == before[address] == 1
    statuses = {delivery.address: delivery.status for delivery in world.deliveries(campaign_id)}
    assert statuses[refused] == DeliveryStatus.sent
    assert statuses[opted_out] == DeliveryStatus.suppressed
    assert statuses[failed_later] == DeliveryStatus.failed

    again = client.post(path, headers=comms)
    assert again.json()["retried"] == 0
    with db.session_scope() as session:
        recorded = session.exec(
            select(TimelineEvent.summary).where(
                TimelineEvent.subject_type == "campaign",
                TimelineEvent.subject_id == campaign_id,
                TimelineEvent.kind == "campaign.failed_retried",
            )
        ).all()
    assert len(recorded) == 2 and "carrier fixed" in recorded[0]


def test_a_campaign_that_never_sent_has_nothing_to_retry(world, client_factory):
    world.import_customers(shanghai_customers(2))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    client = world.sign_in(client_factory())
    answer = client.post(
        f"/api/v1/campaigns/{campaign_id}/retry-failed", headers=client.tokens["comms"]
    )
    assert answer.status_code == 409
    assert "draft" in answer.json()["detail"]


def test_cli_retries_failed_deliveries(world, twilio):
    rows = shanghai_customers(3)
    world.import_customers(rows)
    twilio.fake.state.faults = Faults(error_numbers={rows[0][2]: 21211})
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    dispatch()
    twilio.fake.state.faults = Faults()
    runner = CliRunner()
    result = runner.invoke(cli, ["campaign", "retry-failed", str(campaign_id), "--as", world.comms])
    assert result.exit_code == 0, result.output
    assert f"campaign {campaign_id}: 1 failed messages queued again" in result.stdout
    dispatch()
    assert twilio.fake.counts_by_recipient()[rows[0][2]] == 1
    agent = world.add_person(Role.agent)
    refused = runner.invoke(cli, ["campaign", "retry-failed", str(campaign_id), "--as", agent])
    assert refused.exit_code == 1 and "may not send campaigns" in refused.output
