import asyncio
from datetime import timedelta

import pytest

from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import CampaignStatus, DeliveryStatus
from incident_cmd.config import get_settings
from incident_cmd.messaging.models import SinkMessage
from incident_cmd.messaging.outbox import TokenBucket
from incident_cmd.messaging.templates import sms_shape
from tests.factories import new_york_customers, shanghai_customers
from tests.plugins.messaging import dispatch


@pytest.fixture
def api(world, client_factory):
    return world.sign_in(
        client_factory(), other_comms=Role.comms, agent=Role.agent, viewer=Role.viewer
    )


def test_sms_shape():
    assert sms_shape("Hello") == sms_shape("Hello")
    assert sms_shape("a" * 160).segments == 1
    assert sms_shape("a" * 161).segments == 2
    assert sms_shape("{" * 80).characters == 160  # extension characters count twice
    chinese = sms_shape("召" * 70)
    assert (chinese.encoding, chinese.segments) == ("UCS-2", 1)
    assert sms_shape("召" * 71).segments == 2
    assert sms_shape("😀" * 35).characters == 70


def test_campaign_by_hand_needs_a_second_approver_and_shows_live_counts(api, world):
    world.import_customers(shanghai_customers(4) + new_york_customers(2, batch="B8"))
    body = {
        "name": "B8 notice",
        "channel": "sms",
        "template": "recall_notice",
        "audience": {"rule": "scope_purchasers", "batches": ["B8"]},
        "two_person_approval": True,
    }
    created = api.post("/api/v1/campaigns", json=body, headers=api.tokens["comms"])
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft" and campaign["created_by"] == api.usernames["comms"]
    url = f"/api/v1/campaigns/{campaign['id']}"
    own = api.post(f"{url}/approve", json={}, headers=api.tokens["comms"])
    assert own.status_code == 403 and "second person" in own.json()["detail"]
    assert api.post(f"{url}/approve", json={}, headers=api.tokens["agent"]).status_code == 403
    approved = api.post(
        f"{url}/approve", json={"note": "checked wording"}, headers=api.tokens["other_comms"]
    )
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by"] == api.usernames["other_comms"]
    twice = api.post(f"{url}/approve", json={}, headers=api.tokens["duty"])
    assert twice.status_code == 409
    from incident_cmd import db
    from incident_cmd.campaigns import service

    with db.session_scope() as session:
        service.start_due_campaigns(session)
    counts = api.get(url, headers=api.tokens["viewer"]).json()["counts"]
    assert (counts["total"], counts["pending"]) == (2, 2)
    dispatch()
    counts = api.get(url, headers=api.tokens["viewer"]).json()["counts"]
    assert (counts["sent"], counts["pending"]) == (2, 0)


def test_sink_channel_records_what_it_would_have_sent(world):
    world.import_customers(new_york_customers(2))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    assert dispatch() == 2
    from sqlmodel import select

    from incident_cmd import db

    with db.session_scope() as session:
        sunk = session.exec(select(SinkMessage).order_by(SinkMessage.id)).all()
    assert sorted(message.address for message in sunk) == ["+12125550000", "+12125550001"]
    assert sunk[0].body.startswith(get_settings().organisation_name)


@pytest.mark.parametrize(
    ("audience", "field"),
    [
        ({"rule": "scope_purchasers"}, "audience"),
        ({"rule": "everyone"}, "audience.rule"),
        ({"rule": "open_tickets"}, "audience"),
    ],
)
def test_bad_campaigns_are_refused(api, audience, field):
    body = {"name": "x", "channel": "sms", "template": "recall_notice", "audience": audience}
    response = api.post("/api/v1/campaigns", json=body, headers=api.tokens["comms"])
    assert response.status_code == 422
    reported = response.json().get("field") or response.json()["errors"][0]["field"]
    assert reported == field


def test_a_campaign_goes_only_on_a_channel_that_carries_notices(api):
    body = {
        "name": "x",
        "channel": "voice",
        "template": "recall_notice",
        "audience": {"rule": "scope_regions", "regions": ["R1"]},
    }
    response = api.post("/api/v1/campaigns", json=body, headers=api.tokens["comms"])
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "channel"
    assert "voice carries no notices; the channels that do: sms, email" in error["message"]
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["CampaignCreate"]["properties"]["channel"]["enum"] == ["sms", "email"]


def test_a_template_that_cannot_render_is_refused_at_creation(api, monkeypatch, tmp_path):
    messages = tmp_path / "messages"
    messages.mkdir()
    (messages / "broken.sms.zh-CN.j2").write_text("您好 {{ customer.nickname }}", encoding="utf-8")
    (messages / "broken.sms.en.j2").write_text("Hello {{ customer.name }}", encoding="utf-8")
    monkeypatch.setenv("INCIDENT_CMD_TEMPLATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    body = {
        "name": "x",
        "channel": "sms",
        "template": "broken",
        "audience": {"rule": "scope_regions", "regions": ["R1"]},
    }
    response = api.post("/api/v1/campaigns", json=body, headers=api.tokens["comms"])
    assert response.status_code == 422
    assert "broken.sms.zh-CN.j2 does not render" in response.json()["detail"]
    assert "nickname" in response.json()["detail"]
    missing = api.post(
        "/api/v1/campaigns", json={**body, "template": "nothing"}, headers=api.tokens["comms"]
    )
    assert missing.status_code == 422


def test_preview_shows_encoding_segments_and_cost(api, world):
    world.import_customers(shanghai_customers(3) + new_york_customers(2))
    incident = world.declare_recall()
    campaign_id = world.campaign_for(incident, "recall_sms")
    preview = api.get(
        f"/api/v1/campaigns/{campaign_id}/preview", headers=api.tokens["comms"]
    ).json()
    assert preview["audience"] == 5
    by_locale = {item["locale"]: item for item in preview["locales"]}
    assert by_locale["zh-CN"]["encoding"] == "UCS-2" and by_locale["zh-CN"]["recipients"] == 3
    assert by_locale["en"]["encoding"] == "GSM-7" and by_locale["en"]["recipients"] == 2
    segments = 3 * by_locale["zh-CN"]["segments"] + 2 * by_locale["en"]["segments"]
    assert preview["estimated_cost"] == round(segments * 0.0079, 2)
    assert "张三" in by_locale["zh-CN"]["body"]


def test_pause_holds_and_cancel_stops_unsent_messages(api, world):
    world.import_customers(shanghai_customers(5))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)
    url = f"/api/v1/campaigns/{campaign_id}"
    assert (
        api.post(f"{url}/pause", json={}, headers=api.tokens["duty"]).json()["status"] == "paused"
    )
    assert dispatch() == 0
    assert (
        api.post(f"{url}/resume", json={}, headers=api.tokens["duty"]).json()["status"] == "sending"
    )
    assert (
        api.post(f"{url}/cancel", json={"note": "wrong batch"}, headers=api.tokens["duty"]).json()[
            "status"
        ]
        == "cancelled"
    )
    assert dispatch() == 0
    assert {d.status for d in world.deliveries(campaign_id)} == {DeliveryStatus.cancelled}
    assert api.post(f"{url}/resume", json={}, headers=api.tokens["duty"]).status_code == 409
    assert api.post(f"{url}/explode", json={}, headers=api.tokens["duty"]).status_code == 404
    timeline = api.get(
        f"/api/v1/incidents/{world.campaign(campaign_id).incident_id}/timeline",
        headers=api.tokens["duty"],
    ).json()
    kinds = [event["kind"] for event in timeline]
    for kind in (
        "campaign.created",
        "campaign.approved",
        "campaign.sending",
        "campaign.paused",
        "campaign.cancelled",
    ):
        assert kind in kinds


def test_scheduled_campaign_waits_for_its_time(world, frozen_clock):
    world.import_customers(shanghai_customers(2))
    incident = world.declare_recall()
    reminder = world.campaign_for(incident, "recall_reminder")
    world.approve_and_start(reminder)
    assert world.campaign(reminder).status == CampaignStatus.scheduled
    frozen_clock.advance(timedelta(days=7))
    from incident_cmd import db
    from incident_cmd.campaigns import service

    with db.session_scope() as session:
        service.start_due_campaigns(session)
    assert world.campaign(reminder).status == CampaignStatus.sending


def test_token_bucket_paces_to_its_rate():
    now = [0.0]
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    async def main():
        bucket = TokenBucket(10, burst=1, monotonic=lambda: now[0], sleep=fake_sleep)
        for _ in range(21):
            await bucket.take()

    asyncio.run(main())
    assert now[0] == pytest.approx(2.0)
    unlimited = TokenBucket(0)
    asyncio.run(unlimited.take())
