from datetime import timedelta

import pytest
from sqlmodel import func, select

from incident_cmd import db
from incident_cmd.campaigns.models import DeliveryStatus, InboundMessage
from incident_cmd.messaging import suppression
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch
from tests.plugins.twilio import INBOUND_URL, PUBLIC, SENDER, inbound_filed, post_form, signed

STATUS_URL = f"{PUBLIC}/webhooks/twilio/status"


@pytest.fixture
def sent_campaign(world, twilio):
    world.import_customers(shanghai_customers(5))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    dispatch()
    return campaign_id


def test_status_callbacks_only_move_forward_and_repeat_harmlessly(
    world, sent_campaign, client_factory
):
    client = client_factory()
    delivery = world.deliveries(sent_campaign)[0]

    def callback(status):
        query = f"?d={delivery.id}"
        params = {"MessageSid": delivery.provider_id, "MessageStatus": status, "ErrorCode": ""}
        return post_form(
            client, f"/webhooks/twilio/status{query}", params, signed(STATUS_URL + query, params)
        )

    assert callback("delivered").status_code == 204
    assert world.deliveries(sent_campaign)[0].status == DeliveryStatus.delivered
    assert callback("sent").status_code == 204
    assert callback("delivered").status_code == 204
    current = world.deliveries(sent_campaign)[0]
    assert current.status == DeliveryStatus.delivered
    assert world.counts(sent_campaign).delivered == 1


@pytest.mark.parametrize("signature", [None, "forged", "wrong-token"])
def test_unsigned_or_forged_webhooks_are_refused_and_change_nothing(
    world, sent_campaign, client_factory, signature
):
    client = client_factory()
    delivery = world.deliveries(sent_campaign)[0]
    query = f"?d={delivery.id}"
    status_params = {"MessageSid": delivery.provider_id, "MessageStatus": "delivered"}
    stop_params = {"MessageSid": "SMstop1", "From": delivery.address, "To": SENDER, "Body": "STOP"}
    for path, url, params in (
        ("/webhooks/twilio/status" + query, STATUS_URL + query, status_params),
        ("/webhooks/twilio/inbound", INBOUND_URL, stop_params),
    ):
        if signature is None:
            headers = {}
        elif signature == "forged":
            headers = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        else:
            headers = signed(url, params, token="somebody-elses-token")
        response = post_form(client, path, params, headers)
        assert response.status_code == 403
    assert world.deliveries(sent_campaign)[0].status == DeliveryStatus.sent
    with db.session_scope() as session:
        assert not suppression.is_suppressed(session, channel="sms", address=delivery.address)
        assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 0


def test_stop_mid_campaign_suppresses_in_this_and_every_later_campaign(
    world, twilio, client_factory, frozen_clock
):
    client = client_factory()
    rows = shanghai_customers(6)
    world.import_customers(rows)
    incident_id = world.declare_recall()
    campaign_id = world.campaign_for(incident_id, "recall_sms")
    world.approve_and_start(campaign_id)
    stopper = rows[2][2]
    response, _ = inbound_filed(client, stopper, " stop ", "SMin1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    dispatch()
    assert stopper not in twilio.fake.counts_by_recipient()
    assert len(twilio.fake.counts_by_recipient()) == 5
    by_address = {d.address: d for d in world.deliveries(campaign_id)}
    assert by_address[stopper].status == DeliveryStatus.suppressed

    reminder = world.campaign_for(incident_id, "recall_reminder")
    frozen_clock.advance(timedelta(days=7))
    world.approve_and_start(reminder)
    assert {d.address: d.status for d in world.deliveries(reminder)}[stopper] == "suppressed"

    assert inbound_filed(client, stopper, "START", "SMin2")[0].status_code == 200
    with db.session_scope() as session:
        assert not suppression.is_suppressed(session, channel="sms", address=stopper)


def test_reply_keywords_help_and_free_text(world, sent_campaign, client_factory):
    client = client_factory()
    first, second = world.deliveries(sent_campaign)[:2]
    _, answer = inbound_filed(client, first.address, "2", "SMr1")
    assert "预约上门取件" in (answer or "")
    again, _ = inbound_filed(client, first.address, "2", "SMr1")  # Twilio retried the webhook
    assert again.status_code == 200
    assert world.counts(sent_campaign).replied == 1
    assert world.deliveries(sent_campaign)[0].reply == "2"
    _, help_answer = inbound_filed(client, second.address, "help", "SMr2")
    assert "STOP" in (help_answer or "")
    inbound_filed(client, second.address, "电饭煲还是坏的", "SMr3")
    with db.session_scope() as session:
        kept = session.exec(
            select(InboundMessage).where(InboundMessage.provider_id == "SMr3")
        ).one()
        assert (kept.kind, kept.delivery_id) == ("message", second.id)
        assert session.exec(select(func.count()).select_from(InboundMessage)).one() == 3


def test_signed_callbacks_from_the_fake_server_mark_messages_delivered(
    world, twilio, monkeypatch, shipped_playbooks
):
    import time

    from incident_cmd.app import create_app
    from incident_cmd.config import get_settings
    from incident_cmd.devtools.local_server import running_server

    app = create_app(registry=shipped_playbooks, run_worker=False)
    with running_server(app) as base:
        monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", base)
        get_settings.cache_clear()
        twilio.fake.state.callbacks = True
        world.import_customers(shanghai_customers(5))
        campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
        world.approve_and_start(campaign_id)
        assert dispatch() == 5
        deadline = time.monotonic() + 20
        while world.counts(campaign_id).delivered < 5:
            assert time.monotonic() < deadline, world.counts(campaign_id)
            time.sleep(0.05)  # waiting for another server's callbacks, not controlling time
    assert {m["status"] for m in twilio.fake.state.messages.values()} == {"delivered"}
