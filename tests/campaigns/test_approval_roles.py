"""Skipping two-person approval, or marking a campaign safety-critical, is a duty manager's
call: nobody else creates a campaign and approves it alone."""

import pytest

from incident_cmd.auth.models import Role
from tests.factories import new_york_customers


@pytest.fixture
def api(world, client_factory):
    client = world.sign_in(client_factory(), other_comms=Role.comms, admin=Role.admin)
    world.import_customers(new_york_customers(2, batch="B8"))
    return client


def campaign(**fields):
    return {
        "name": "B8 notice",
        "channel": "sms",
        "template": "recall_notice",
        "audience": {"rule": "scope_purchasers", "batches": ["B8"]},
        **fields,
    }


def create(api, creator, **fields):
    return api.post("/api/v1/campaigns", json=campaign(**fields), headers=api.tokens[creator])


def approve(api, campaign_id, approver):
    return api.post(
        f"/api/v1/campaigns/{campaign_id}/approve", json={}, headers=api.tokens[approver]
    )


def test_comms_cannot_approve_their_own_campaign_without_two_person_approval(api):
    made = create(api, "comms", two_person_approval=False)
    assert made.status_code == 201, made.text
    own = approve(api, made.json()["id"], "comms")
    assert own.status_code == 403
    assert "only a duty manager may skip two-person approval" in own.json()["detail"]
    current = api.get(f"/api/v1/campaigns/{made.json()['id']}", headers=api.tokens["comms"])
    assert current.json()["status"] == "draft" and current.json()["approved_by"] is None
    second = approve(api, made.json()["id"], "other_comms")
    assert (
        second.status_code == 200 and second.json()["approved_by"] == api.usernames["other_comms"]
    )


@pytest.mark.parametrize("creator", ["duty", "admin"])
def test_a_duty_manager_may_skip_the_second_person(api, creator):
    made = create(api, creator, two_person_approval=False, safety_critical=True)
    assert made.status_code == 201, made.text
    approved = approve(api, made.json()["id"], creator)
    assert approved.status_code == 200 and approved.json()["approved_by"] == api.usernames[creator]


def test_only_a_duty_manager_marks_a_campaign_safety_critical(api):
    refused = create(api, "comms", safety_critical=True, two_person_approval=True)
    assert refused.status_code == 403
    assert refused.json()["field"] == "safety_critical"
    listed = api.get("/api/v1/campaigns", headers=api.tokens["comms"]).json()
    assert [item for item in listed if item["name"] == "B8 notice"] == []


def test_a_playbooks_safety_critical_plan_stays_available_to_comms(api, world):
    incident_id = world.declare_recall(batches=("B8",))
    made = api.post(
        f"/api/v1/incidents/{incident_id}/campaigns?plan=recall_sms",
        headers=api.tokens["comms"],
    )
    assert made.status_code == 201, made.text
    assert made.json()["safety_critical"] and made.json()["two_person_approval"]
    assert approve(api, made.json()["id"], "comms").status_code == 403
    assert approve(api, made.json()["id"], "other_comms").status_code == 200
