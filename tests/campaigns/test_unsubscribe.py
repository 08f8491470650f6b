"""Email unsubscribe: the link's page changes nothing, its button and RFC 8058 one-click do;
an unsubscribe stops update notices but not a recall's safety notice; SMS STOP stops both."""

import pytest
from sqlmodel import select

from incident_cmd import db
from incident_cmd.campaigns import inbound as keywords
from incident_cmd.campaigns import service
from incident_cmd.campaigns.models import DeliveryStatus
from incident_cmd.campaigns.schemas import Audience, CampaignCreate
from incident_cmd.errors import Forbidden, Invalid
from incident_cmd.messaging import suppression
from incident_cmd.messaging.models import Suppression
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch
from tests.plugins.twilio import PUBLIC

UNSUBSCRIBER = "cn00000@example.com"


def unsubscribe_path(address: str) -> str:
    return suppression.unsubscribe_url(address).removeprefix(PUBLIC)


@pytest.fixture
def public(monkeypatch):
    from incident_cmd.config import get_settings

    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", PUBLIC)
    get_settings.cache_clear()


def update_campaign(world, incident_id: int | None, username: str | None = None, **extra) -> int:
    with db.session_scope() as session:
        actor = world.user(session, username or world.duty_manager)
        data = CampaignCreate(
            name="PX-200 recall progress",
            channel="email",
            template="service_disruption",
            audience=Audience(rule="scope_purchasers", batches=["B7"]),
            incident_id=incident_id,
            **extra,
        )
        return service.create_campaign(session, data=data, actor=actor).id


def statuses(world, campaign_id: int) -> dict[str, str]:
    return {delivery.address: delivery.status for delivery in world.deliveries(campaign_id)}


def test_opening_the_link_changes_nothing_and_the_button_unsubscribes(
    world, public, client_factory
):
    client = client_factory()
    path = unsubscribe_path(UNSUBSCRIBER)
    for _ in range(3):  # a mail scanner, a link preview, the person
        page = client.get(path)
        assert page.status_code == 200
        assert '<form method="post">' in page.text and "safety" in page.text
    with db.session_scope() as session:
        assert not suppression.is_suppressed(session, channel="email", address=UNSUBSCRIBER)
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with db.session_scope() as session:
        assert suppression.is_suppressed(session, channel="email", address=UNSUBSCRIBER)


def test_an_email_unsubscribe_stops_updates_but_not_the_recall_safety_notice(
    world, public, client_factory
):
    world.import_customers(shanghai_customers(3))
    client = client_factory()
    one_click = {"List-Unsubscribe": "One-Click"}
    assert client.post(unsubscribe_path(UNSUBSCRIBER), data=one_click).status_code == 200
    incident_id = world.declare_recall()
    safety = world.campaign_for(incident_id, "recall_email")
    update = update_campaign(world, incident_id)
    assert world.campaign(safety).notice_class == "safety"
    assert world.campaign(update).notice_class == "update"
    world.approve_and_start(safety)
    world.approve_and_start(update)
    # Unsubscribing after the audience was drawn: the dispatcher's check is the same.
    late = "cn00001@example.com"
    assert client.post(unsubscribe_path(late), data=one_click).status_code == 200
    dispatch()
    assert set(statuses(world, safety).values()) == {DeliveryStatus.sent}
    assert statuses(world, update) == {
        UNSUBSCRIBER: DeliveryStatus.suppressed,
        late: DeliveryStatus.suppressed,
        "cn00002@example.com": DeliveryStatus.sent,
    }
    with db.session_scope() as session:
        recorded = session.exec(
            select(TimelineEvent.kind).where(
                TimelineEvent.subject_type == "customer", TimelineEvent.kind == "email.unsubscribed"
            )
        ).all()
        assert len(recorded) == 2


def test_sms_stop_stops_the_safety_notice_too(world):
    world.import_customers(shanghai_customers(2))
    stopper = shanghai_customers(1)[0][2]
    with db.session_scope() as session:
        keywords.handle_inbound(
            session, provider_id="SMstop", from_address=stopper, to_address="+1", body="TD"
        )
    safety = world.campaign_for(world.declare_recall(), "recall_sms")
    assert world.campaign(safety).notice_class == "safety"
    world.approve_and_start(safety)
    dispatch()
    assert statuses(world, safety)[stopper] == DeliveryStatus.suppressed


def test_a_suppression_only_widens(session):
    address = "someone@example.com"
    service.unsubscribe_email(session, address=address)
    suppression.suppress(session, channel="email", address=address, reason="hard bounce")
    service.unsubscribe_email(session, address=address)
    kept = session.get(Suppression, ("email", address))
    session.refresh(kept)
    assert (kept.spares_safety, kept.reason) == (False, "hard bounce")


def test_only_a_duty_manager_marks_a_hand_made_campaign_as_a_safety_notice(world):
    incident_id = world.declare_recall()
    with pytest.raises(Forbidden, match="safety notice"):
        update_campaign(world, incident_id, username=world.comms, notice_class="safety")
    with pytest.raises(Invalid, match="must belong to an incident"):
        update_campaign(world, None, notice_class="safety")
    made = update_campaign(world, incident_id, notice_class="safety")
    assert world.campaign(made).notice_class == "safety"
