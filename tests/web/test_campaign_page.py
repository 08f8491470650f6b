"""A campaign's page: its figures, why messages failed, and the retry of those no provider
ever took."""

import re

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from incident_cmd.auth.models import Role
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign, Delivery, DeliveryStatus
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from tests.factories import make_customer, make_playbook_teams, make_user
from tests.plugins.web import ORIGIN, PASSWORD, login


@pytest.fixture
def comms(session):
    return make_user(session, Role.comms, password=PASSWORD, locale="en")


def _failed_campaign(session, registry, comms) -> int:
    for n in range(4):
        make_customer(session, name=f"客户{n}", phone=f"+86139{n:08d}", email=f"c{n}@example.com")
    make_playbook_teams(session, registry.get("product-recall").playbook)
    duty = make_user(session, Role.duty_manager)
    incident = incident_flows.declare(
        session,
        registry=registry,
        actor=duty,
        data=IncidentDeclare(
            playbook="product-recall", title="PX-200", severity="sev1", scope=Scope(batches=["B7"])
        ),
    )
    campaign = session.exec(
        select(Campaign).where(
            Campaign.incident_id == incident.id, Campaign.plan_key == "recall_sms"
        )
    ).one()
    campaign_service.approve(session, campaign=campaign, actor=comms)
    campaign_service.start_due_campaigns(session)
    ids = session.exec(
        select(Delivery.id).where(Delivery.campaign_id == campaign.id).order_by(Delivery.id)
    ).all()
    assert len(ids) == 4
    session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids[:2]))
        .values(status=DeliveryStatus.failed, error_message="product contains a line break")
    )
    # This one reached Twilio before it failed: it may have reached the person.
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == ids[2])
        .values(status=DeliveryStatus.failed, provider_id="SM1", error_code="30006")
    )
    session.flush()
    return campaign.id


def test_comms_see_why_messages_failed_and_retry_only_those_never_sent(
    client, session, shipped_playbooks, comms
):
    campaign_id = _failed_campaign(session, shipped_playbooks, comms)
    assert login(client, comms.username).status_code == 303
    page = client.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert "product contains a line break" in page.text and "30006" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    retried = client.post(
        f"/campaigns/{campaign_id}/retry-failed",
        data={"csrf_token": token},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert retried.status_code == 303
    assert retried.headers["location"] == f"/campaigns/{campaign_id}?retried=2"
    statuses = session.exec(
        select(Delivery.status).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
    ).all()
    assert statuses == ["pending", "pending", "failed", "pending"]
    assert "2 failed messages queued again" in client.get(retried.headers["location"]).text


def test_a_viewer_sees_the_figures_but_cannot_retry(client, session, shipped_playbooks, comms):
    campaign_id = _failed_campaign(session, shipped_playbooks, comms)
    make_user(session, Role.viewer, username="watcher", password=PASSWORD)
    assert login(client, "watcher").status_code == 303
    page = client.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200 and "/retry-failed" not in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    refused = client.post(
        f"/campaigns/{campaign_id}/retry-failed", data={"csrf_token": token}, headers=ORIGIN
    )
    assert refused.status_code == 403
    failed = session.exec(
        select(Delivery.id).where(
            Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.failed
        )
    ).all()
    assert len(failed) == 3


def test_the_retry_form_needs_its_csrf_token(client, session, shipped_playbooks, comms):
    campaign_id = _failed_campaign(session, shipped_playbooks, comms)
    login(client, comms.username)
    refused = client.post(f"/campaigns/{campaign_id}/retry-failed", data={}, headers=ORIGIN)
    assert refused.status_code == 403
