from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import select

from incident_cmd.incidents import service
from incident_cmd.incidents.models import IncidentTask
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import rotation_members


def timeline_kinds(client, incident, auth):
    events = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=auth).json()
    return [event["kind"] for event in events]


@dataclass
class Rotation:
    on_call: str
    off_duty: str


# Stands for the off-duty customer service lead in parameters, chosen before the teams exist.
OFF_DUTY = "off-duty"


@pytest.fixture
def customer_service(session, staffed) -> Rotation:
    """The customer service rotation the cs_lead seat is filled from: its first member is on
    call, the second is not."""
    on_call, off_duty = rotation_members(session, team_key="customer-service")
    return Rotation(on_call, off_duty)


def move(client, incident, status, auth, note=""):
    return client.post(
        f"/api/v1/incidents/{incident['id']}/status",
        json={"status": status, "note": note},
        headers=auth,
    )


def _finish_review(client, incident, auth):
    """Ticks the review checklist, writes the summary and approves: what closing waits for."""
    base = f"/api/v1/incidents/{incident['id']}"
    review = client.get(f"{base}/review", headers=auth).json()
    for item in review["checklist"]:
        done = client.post(f"{base}/tasks/{item['task_id']}/complete", json={}, headers=auth)
        assert done.status_code == 200, done.text
    written = client.put(f"{base}/review/sections/summary", json={"text": "x"}, headers=auth)
    assert written.status_code == 200, written.text
    assert client.post(f"{base}/review/approve", json={}, headers=auth).status_code == 200


def test_full_lifecycle_records_every_step(client, incident, as_user, people, frozen_clock):
    duty = as_user(people.duty)
    for status in ("active", "stabilized", "resolved"):
        frozen_clock.advance(timedelta(minutes=10))
        response = move(client, incident, status, duty, note=f"to {status}")
        assert response.status_code == 200, response.text
    # Resolving goes on into review at once.
    assert response.json()["status"] == "in_review"
    frozen_clock.advance(timedelta(minutes=10))
    _finish_review(client, incident, duty)
    response = move(client, incident, "closed", duty, note="to closed")
    assert response.status_code == 200, response.text
    final = response.json()
    assert final["status"] == "closed"
    assert final["closed_at"] is not None
    assert final["resolved_at"] is not None
    assert final["allowed_transitions"] == ["in_review"]
    events = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=duty).json()
    status_events = [event for event in events if event["kind"] == "incident.status"]
    assert [(e["data"]["from"], e["data"]["to"]) for e in status_events] == [
        ("declared", "active"),
        ("active", "stabilized"),
        ("stabilized", "resolved"),
        ("resolved", "in_review"),
        ("in_review", "closed"),
    ]
    assert all(event["actor"] == people.duty.username for event in status_events)
    times = [event["at"] for event in status_events]
    assert times == sorted(times) and len(set(times)) == 4


def test_forbidden_transition_is_409_and_lists_the_allowed(client, incident, as_user, people):
    response = move(client, incident, "closed", as_user(people.duty))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"cannot move {incident['number']} from declared to closed (allowed: active, resolved)"
    )
    assert timeline_kinds(client, incident, as_user(people.duty)).count("incident.status") == 0


def test_unknown_status_is_422(client, incident, as_user, people):
    response = move(client, incident, "on_fire", as_user(people.duty))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"


def test_reopen_after_resolution_clears_resolved_at(client, incident, as_user, people):
    duty = as_user(people.duty)
    move(client, incident, "resolved", duty)
    reopened = move(client, incident, "active", duty, note="new reports").json()
    assert reopened["status"] == "active"
    assert reopened["resolved_at"] is None


def test_responder_cannot_change_status(client, incident, as_user, customer_service):
    assert move(client, incident, "active", as_user(customer_service.off_duty)).status_code == 403


def test_severity_change_recomputes_targets_and_is_recorded(client, incident, as_user, people):
    duty = as_user(people.duty)
    response = client.post(
        f"/api/v1/incidents/{incident['id']}/severity",
        json={"severity": "sev1", "reason": "burn injury reported"},
        headers=duty,
    )
    assert response.status_code == 200
    changed = response.json()
    assert changed["severity"] == "sev1"
    assert changed["respond_by"] < incident["respond_by"]
    events = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=duty).json()
    assert events[-1]["kind"] == "incident.severity"
    assert events[-1]["data"] == {"from": "sev2", "to": "sev1", "reason": "burn injury reported"}
    response = client.post(
        f"/api/v1/incidents/{incident['id']}/severity",
        json={"severity": "sev0", "reason": "x"},
        headers=duty,
    )
    assert response.status_code == 422
    assert response.json()["field"] == "severity"


def test_role_reassignment_relieves_and_replaces(
    client, incident, as_user, people, customer_service
):
    on_call, off_duty = customer_service.on_call, customer_service.off_duty
    duty = as_user(people.duty)
    before = {seat["role"]: seat["user"] for seat in incident["roster"]}
    response = client.post(
        f"/api/v1/incidents/{incident['id']}/roster",
        json={"role": "cs_lead", "user": off_duty, "note": "swap"},
        headers=duty,
    )
    assert response.status_code == 200
    after = {seat["role"]: seat["user"] for seat in response.json()["roster"]}
    assert before["cs_lead"] == on_call and after["cs_lead"] == off_duty
    assert len(response.json()["roster"]) == len(incident["roster"])
    events = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=duty).json()
    roster_events = [e["summary"] for e in events if e["kind"].startswith("roster.")]
    assert roster_events[-2:] == [
        f"{on_call} relieved from role cs_lead",
        f"{off_duty} assigned to role cs_lead",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "janitor", "user": OFF_DUTY}, "role"),
        ({"role": "cs_lead", "user": "nobody"}, "user"),
        ({"role": "cs_lead", "slot": 1, "user": OFF_DUTY}, "slot"),
    ],
)
def test_bad_reassignment_names_the_field(
    client, incident, as_user, people, customer_service, body, field
):
    if body["user"] == OFF_DUTY:
        body = {**body, "user": customer_service.off_duty}
    response = client.post(
        f"/api/v1/incidents/{incident['id']}/roster", json=body, headers=as_user(people.duty)
    )
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_internal_updates_and_no_public_wording_outside_the_statements(
    client, incident, as_user, people, session
):
    quality = rotation_members(session, team_key="quality")[1]
    url = f"/api/v1/incidents/{incident['id']}/updates"
    internal = client.post(url, json={"body": "Lab confirms cell defect"}, headers=as_user(quality))
    assert internal.status_code == 201
    assert internal.json()["public"] is False
    # What the public reads is a statement a second person approved, never an update.
    public = client.post(
        url,
        json={"body": "Recall started", "public": True, "status": "identified"},
        headers=as_user(people.comms),
    )
    assert public.status_code == 422
    assert {error["field"] for error in public.json()["errors"]} == {"public", "status"}
    current = client.get(f"/api/v1/incidents/{incident['id']}", headers=as_user(people.viewer))
    assert current.json()["public_status"] is None
    viewer_post = client.post(url, json={"body": "hi"}, headers=as_user(people.viewer))
    assert viewer_post.status_code == 403


def test_task_with_open_dependency_cannot_be_completed(client, incident, as_user):
    tasks = {task["key"]: task for task in incident["tasks"]}
    base = f"/api/v1/incidents/{incident['id']}/tasks"
    holder = next(seat["user"] for seat in incident["roster"] if seat["role"] == "quality_lead")
    responder = as_user(holder)
    blocked = client.post(
        f"{base}/{tasks['handling_plan']['id']}/complete", json={}, headers=responder
    )
    assert blocked.status_code == 409
    assert "waits for 'assess'" in blocked.json()["detail"]
    done = client.post(
        f"{base}/{tasks['assess']['id']}/complete",
        json={"note": "batch B7 only"},
        headers=responder,
    )
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["completed_by"] == holder
    assert (
        client.post(
            f"{base}/{tasks['handling_plan']['id']}/complete", json={}, headers=responder
        ).status_code
        == 200
    )
    again = client.post(f"{base}/{tasks['assess']['id']}/complete", json={}, headers=responder)
    assert again.status_code == 200
    kinds = timeline_kinds(client, incident, responder)
    assert kinds.count("task.completed") == 2


def test_closed_incident_refuses_changes(client, incident, as_user, people):
    duty = as_user(people.duty)
    move(client, incident, "resolved", duty)
    _finish_review(client, incident, duty)
    assert move(client, incident, "closed", duty).status_code == 200
    task = incident["tasks"][0]
    response = client.post(
        f"/api/v1/incidents/{incident['id']}/tasks/{task['id']}/complete", json={}, headers=duty
    )
    assert response.status_code == 409
    assert "closed" in response.json()["detail"]


def test_unknown_incident_and_task_are_404(client, incident, as_user, people):
    duty = as_user(people.duty)
    assert client.get("/api/v1/incidents/99999", headers=duty).status_code == 404
    response = client.post(
        f"/api/v1/incidents/{incident['id']}/tasks/99999/complete", json={}, headers=duty
    )
    assert response.status_code == 404


def test_list_filters_and_keyset_pagination(client, as_user, people):
    duty = as_user(people.duty)
    for index in range(5):
        client.post(
            "/api/v1/incidents",
            json={
                "playbook": "service-outage" if index % 2 else "natural-disaster",
                "title": f"incident {index}",
                "severity": "sev1",
                "scope": {"regions": ["Fujian"]},
                "drill": index == 4,
            },
            headers=duty,
        )
    page = client.get("/api/v1/incidents", params={"limit": 2}, headers=duty).json()
    assert [item["title"] for item in page["items"]] == ["incident 4", "incident 3"]
    page = client.get(
        "/api/v1/incidents", params={"limit": 2, "cursor": page["next_cursor"]}, headers=duty
    ).json()
    assert [item["title"] for item in page["items"]] == ["incident 2", "incident 1"]
    outages = client.get(
        "/api/v1/incidents", params={"kind": "service_outage"}, headers=duty
    ).json()
    assert {item["title"] for item in outages["items"]} == {"incident 1", "incident 3"}
    assert outages["next_cursor"] is None
    drills = client.get("/api/v1/incidents", params={"drill": "true"}, headers=duty).json()
    assert [item["title"] for item in drills["items"]] == ["incident 4"]
    first = page["items"][0]["id"]
    client.post(f"/api/v1/incidents/{first}/status", json={"status": "active"}, headers=duty)
    active = client.get(
        "/api/v1/incidents", params={"status": ["active", "stabilized"]}, headers=duty
    ).json()
    assert [item["id"] for item in active["items"]] == [first]
    bad = client.get("/api/v1/incidents", params={"limit": 0}, headers=duty)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"


def test_overdue_tasks_reach_the_timeline_once(session, client, incident, frozen_clock):
    assert service.mark_overdue_tasks(session) == 0
    frozen_clock.advance(timedelta(hours=2))
    # assess and stop_shipments are due two hours after declaration.
    assert service.mark_overdue_tasks(session) == 2
    assert service.mark_overdue_tasks(session) == 0
    overdue = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "task.overdue")).all()
    assert sorted(event.data["task"] for event in overdue) == ["assess", "stop_shipments"]
    flagged = session.exec(
        select(IncidentTask).where(IncidentTask.overdue_at.is_not(None))  # type: ignore[union-attr]
    ).all()
    assert len(flagged) == 2
