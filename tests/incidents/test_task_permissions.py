"""An incident task is completed by the holder of its role, the commander or a duty manager."""

import pytest

from tests.factories import rotation_members


@pytest.fixture
def quality_team(session, staffed):
    return rotation_members(session, team_key="quality")


@pytest.fixture
def recall(incident):
    incident["holders"] = {seat["role"]: seat["user"] for seat in incident["roster"]}
    incident["task_ids"] = {task["key"]: task["id"] for task in incident["tasks"]}
    return incident


def complete(client, incident, key, auth):
    return client.post(
        f"/api/v1/incidents/{incident['id']}/tasks/{incident['task_ids'][key]}/complete",
        json={"note": "done"},
        headers=auth,
    )


def task_status(client, incident, key, auth):
    read = client.get(f"/api/v1/incidents/{incident['id']}", headers=auth).json()
    return next(task["status"] for task in read["tasks"] if task["key"] == key)


def test_others_are_refused_and_nothing_changes(
    client, recall, as_user, people, quality_team, session
):
    holder = recall["holders"]["quality_lead"]
    colleague = next(name for name in quality_team if name != holder)
    technician = next(
        name
        for name in rotation_members(session, team_key="technical-support")
        if name not in recall["holders"].values()
    )
    viewer = people.viewer.username
    for username in (colleague, technician, people.comms.username, people.agent.username, viewer):
        refused = complete(client, recall, "assess", as_user(username))
        assert refused.status_code == 403, username
        if username != viewer:
            assert "quality_lead" in refused.json()["detail"]
    assert task_status(client, recall, "assess", as_user(people.duty)) == "open"
    events = client.get(f"/api/v1/incidents/{recall['id']}/timeline", headers=as_user(people.duty))
    assert "task.completed" not in [event["kind"] for event in events.json()]


def test_the_holder_of_the_tasks_role_completes_it(client, recall, as_user):
    holder = recall["holders"]["quality_lead"]
    done = complete(client, recall, "assess", as_user(holder))
    assert done.status_code == 200, done.text
    assert done.json()["completed_by"] == holder


def test_the_commander_completes_any_task(client, recall, as_user):
    commander = recall["holders"]["commander"]
    done = complete(client, recall, "stop_shipments", as_user(commander))
    assert done.status_code == 200 and done.json()["completed_by"] == commander


@pytest.mark.parametrize("who", ["duty", "admin"])
def test_duty_managers_and_admins_complete_any_task(client, recall, as_user, people, who):
    username = getattr(people, who).username
    assert username not in recall["holders"].values()
    done = complete(client, recall, "stop_shipments", as_user(username))
    assert done.status_code == 200 and done.json()["completed_by"] == username


def test_a_seat_handed_over_takes_the_task_with_it(client, recall, as_user, people, quality_team):
    holder = recall["holders"]["quality_lead"]
    successor = next(name for name in quality_team if name != holder)
    handed = client.post(
        f"/api/v1/incidents/{recall['id']}/roster",
        json={"role": "quality_lead", "user": successor},
        headers=as_user(people.duty),
    )
    assert handed.status_code == 200, handed.text
    assert complete(client, recall, "assess", as_user(holder)).status_code == 403
    assert complete(client, recall, "assess", as_user(successor)).status_code == 200


def test_an_agent_added_to_a_role_completes_its_tasks(client, recall, as_user, people):
    agent = people.agent
    assert complete(client, recall, "stop_shipments", as_user(agent)).status_code == 403
    added = client.post(
        f"/api/v1/incidents/{recall['id']}/roster/add",
        json={"role": "logistics_lead", "user": agent.username},
        headers=as_user(people.duty),
    )
    assert added.status_code == 201, added.text
    assert complete(client, recall, "stop_shipments", as_user(agent)).status_code == 200
