import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from incident_cmd.campaigns.models import CampaignStatus, DeliveryStatus
from tests.factories import new_york_customers, shanghai_customers
from tests.plugins.messaging import dispatch
from tests.plugins.twilio import ACCOUNT, SENDER

CONTRACT = json.loads(
    (Path(__file__).parents[1] / "data" / "twilio_api_v2010_messages_calls.json").read_text()
)
MESSAGES = CONTRACT["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]
REQUEST_FIELDS = set(
    MESSAGES["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"][
        "properties"
    ]
)
RESPONSE_FIELDS = set(CONTRACT["components"]["schemas"]["api.v2010.account.message"]["properties"])
STATUSES = set(CONTRACT["components"]["schemas"]["message_enum_status"]["enum"])


def test_recall_notice_reaches_each_matching_customer_once_through_twilio(world, twilio):
    world.import_customers(shanghai_customers(12, "B7") + shanghai_customers(5, "B8", start=100))
    incident_id = world.declare_recall(batches=("B7",))
    campaign_id = world.campaign_for(incident_id, "recall_sms")
    assert world.campaign(campaign_id).status == CampaignStatus.draft
    world.approve_and_start(campaign_id)
    assert world.campaign(campaign_id).status == CampaignStatus.sending
    assert world.counts(campaign_id).pending == 12

    assert dispatch() == 12
    world.finish()
    counts = world.counts(campaign_id)
    assert (counts.total, counts.sent, counts.pending) == (12, 12, 0)
    assert world.campaign(campaign_id).status == CampaignStatus.completed

    per_recipient = twilio.fake.counts_by_recipient()
    assert sorted(per_recipient) == sorted(f"+86139{n:08d}" for n in range(12))
    assert set(per_recipient.values()) == {1}
    deliveries = world.deliveries(campaign_id)
    messages = {m["to"]: m for m in twilio.fake.state.messages.values()}
    for delivery in deliveries:
        message = messages[delivery.address]
        assert delivery.provider_id == message["sid"]
        assert "客户" in message["body"] and "B7" in message["body"]
        assert set(message) <= RESPONSE_FIELDS and message["status"] in STATUSES
        assert message["account_sid"] == ACCOUNT
    for request in twilio.fake.state.requests:
        assert set(request) <= REQUEST_FIELDS
        assert request["From"] == SENDER
        assert request["StatusCallback"].startswith(
            "https://incident.example.com/webhooks/twilio/status?d="
        )


def test_nothing_is_sent_before_approval_and_drafts_follow_the_plan(world, twilio):
    world.import_customers(shanghai_customers(3))
    incident_id = world.declare_recall()
    plans = {
        world.campaign(world.campaign_for(incident_id, plan)).plan_key
        for plan in ("recall_sms", "recall_email", "recall_reminder")
    }
    assert plans == {"recall_sms", "recall_email", "recall_reminder"}
    reminder = world.campaign(world.campaign_for(incident_id, "recall_reminder"))
    assert reminder.skip_if_replied_to == world.campaign_for(incident_id, "recall_sms")
    assert dispatch() == 0
    assert twilio.fake.counts_by_recipient() == Counter()


def test_quiet_hours_hold_messages_until_the_recipients_morning(world, twilio, frozen_clock):
    # 14:00 UTC: 22:00 in Shanghai (quiet), 09:00 in New York (awake).
    frozen_clock.set(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    world.import_customers(shanghai_customers(4) + new_york_customers(3))
    incident_id = world.declare_recall()
    campaign_id = world.campaign_for(incident_id, "recall_reminder")  # not safety-critical
    with_send_now(world, campaign_id)
    world.approve_and_start(campaign_id)
    assert dispatch() == 3
    assert all(to.startswith("+1") for to in twilio.fake.counts_by_recipient())
    waiting = [d for d in world.deliveries(campaign_id) if d.status == DeliveryStatus.pending]
    assert len(waiting) == 4
    # 08:00 in Shanghai is 00:00 UTC.
    assert {d.due_at for d in waiting} == {datetime(2026, 11, 24, 0, 0, tzinfo=UTC)}
    frozen_clock.advance(timedelta(hours=9, minutes=59))
    assert dispatch() == 0
    frozen_clock.advance(timedelta(minutes=1))
    assert dispatch() == 4
    assert len(twilio.fake.counts_by_recipient()) == 7


def test_safety_critical_notice_overrides_quiet_hours(world, twilio, frozen_clock):
    frozen_clock.set(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    world.import_customers(shanghai_customers(4) + new_york_customers(3))
    incident_id = world.declare_recall()
    campaign_id = world.campaign_for(incident_id, "recall_sms")
    assert world.campaign(campaign_id).safety_critical
    world.approve_and_start(campaign_id)
    assert dispatch() == 7


def with_send_now(world, campaign_id):
    from incident_cmd import db
    from incident_cmd.campaigns.models import Campaign

    with db.session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        campaign.send_at = None
        session.add(campaign)


def test_a_customer_with_several_matching_purchases_gets_one_message(world, twilio):
    world.import_customers(shanghai_customers(2))
    # The same customers bought a second unit of the batch.
    from sqlmodel import select

    from incident_cmd import db
    from incident_cmd.customers.models import Customer, Purchase

    with db.session_scope() as session:
        mine = select(Customer).where(Customer.external_ref.startswith("CN"))
        for customer in session.exec(mine).all():
            session.add(
                Purchase(
                    customer_id=customer.id,
                    purchase_key=f"serial:X{customer.id}",
                    product_model="PX-200",
                    batch="B7",
                    serial=f"X{customer.id}",
                )
            )
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    assert len(world.deliveries(campaign_id)) == 2
    assert dispatch() == 2
    assert set(twilio.fake.counts_by_recipient().values()) == {1}
