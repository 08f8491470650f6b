from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from incident_cmd.app import create_app
from incident_cmd.auth import service as auth_service
from incident_cmd.config import PROJECT_ROOT
from incident_cmd.deps import get_session
from incident_cmd.incidents.models import Incident
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.teams import service as team_service
from incident_cmd.workdays import add_offset
from tests.factories import bearer, rotation_members
from tests.plugins.clock import START

SHIPPED = PlaybookRegistry.from_directory(PROJECT_ROOT / "playbooks", PROJECT_ROOT / "templates")
FULL_SCOPE = {"products": ["PX-200"], "batches": ["B2026-11"], "regions": ["Guangdong"]}


def declare(client, auth, **overrides):
    body = {
        "playbook": "product-recall",
        "title": "PX-200 batteries overheating",
        "severity": "sev1",
        "scope": FULL_SCOPE,
        **overrides,
    }
    return client.post("/api/v1/incidents", json=body, headers=auth)


@pytest.fixture
def duty(as_user, people):
    return as_user(people.duty)


@pytest.mark.parametrize("playbook", [item.playbook.key for item in SHIPPED.all()])
def test_each_shipped_playbook_declares_with_roster_from_on_call_and_timed_tasks(
    client, session, people, duty, playbook
):
    loaded = SHIPPED.get(playbook).playbook
    severity = loaded.severities[0]
    response = declare(client, duty, playbook=playbook, severity=severity.key)
    assert response.status_code == 201, response.text
    incident = response.json()
    assert incident["number"] == "INC-2026-0001"
    assert incident["status"] == "declared"
    assert incident["declared_by"] == people.duty.username

    expected_seats = []
    for role in loaded.roles:
        on_call = team_service.responders(
            session, team_key=role.team, rotation_name=role.rotation, at=START, count=role.count
        )
        expected_seats += [(role.key, slot, person.username) for slot, person in enumerate(on_call)]
    seats = [(seat["role"], seat["slot"], seat["user"]) for seat in incident["roster"]]
    assert seats == expected_seats
    assert all(seat["state"] == "assigned" for seat in incident["roster"])

    zone = ZoneInfo("Asia/Shanghai")
    expected_tasks = [
        (task.key, task.role, add_offset(START, task.due, zone=zone, country="CN"))
        for task in loaded.tasks
    ]
    tasks = [(task["key"], task["role"], task["due_at"]) for task in incident["tasks"]]
    assert [
        (key, role, due.isoformat().replace("+00:00", "Z")) for key, role, due in expected_tasks
    ] == [(k, r, d.replace("+00:00", "Z")) for k, r, d in tasks]
    assert all(task["title"] for task in incident["tasks"])

    timeline = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=duty).json()
    kinds = [event["kind"] for event in timeline]
    assert kinds[0] == "incident.declared"
    assert kinds.count("roster.assigned") == len(expected_seats)
    assert all(event["actor"] == people.duty.username for event in timeline)


def test_recall_roster_on_monday_morning_matches_the_demo_rotations(client, demo_org):
    duty = bearer(demo_org, auth_service.get_user_by_username(demo_org, username="duty"))
    incident = declare(client, duty).json()
    by_role = {seat["role"]: seat["user"] for seat in incident["roster"]}
    # Demo rotations are anchored a week before START: weekly ones have turned once,
    # daily ones seven times; the general manager is always the commander (总经理担任总指挥).
    assert by_role["commander"] == "gm.zhang"
    assert by_role["deputy"] == "dgm.chen"
    assert by_role["cs_lead"] == "cs.zhao"
    assert by_role["tech_lead"] == "tech.lin"
    task = next(task for task in incident["tasks"] if task["key"] == "handling_plan")
    # One working day after Monday 09:00 Shanghai is Tuesday 09:00 Shanghai.
    assert task["due_at"].startswith("2026-11-24T01:00:00")


def test_unfilled_roles_are_visible_not_hidden(client, session, duty):
    for username in rotation_members(session, team_key="finance"):
        finance = auth_service.get_user_by_username(session, username=username)
        finance.active = False
        session.add(finance)
    incident = declare(client, duty).json()
    [seat] = [seat for seat in incident["roster"] if seat["role"] == "finance_lead"]
    assert seat["user"] is None
    assert seat["state"] == "unfilled"
    assert "only 0 of 1 available in team 'finance'" in seat["note"]
    timeline = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=duty).json()
    assert any(event["kind"] == "roster.unfilled" for event in timeline)


@pytest.mark.parametrize("role", ["viewer", "agent", "responder", "comms"])
def test_only_duty_managers_and_admins_declare(client, headers, role):
    assert declare(client, headers(role)).status_code == 403


def test_admin_may_declare(client, staffed, headers):
    assert declare(client, headers("admin")).status_code == 201


def test_declare_without_credentials_is_401(client):
    assert declare(client, {}).status_code == 401


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"scope": {"regions": ["Guangdong"]}}, "scope", "scope.products, scope.batches"),
        ({"playbook": "alien-invasion"}, "playbook", "no playbook 'alien-invasion'"),
        ({"severity": "sev9"}, "severity", "unknown severity 'sev9' (known: sev1, sev2, sev3)"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"scope": {"batches": ["  "]}}, "scope.batches", "empty value"),
        ({"scope": {"models": ["x"]}}, "scope.models", "Extra inputs"),
    ],
)
def test_bad_declarations_name_the_field_and_create_nothing(
    client, session, duty, overrides, field, message
):
    response = declare(client, duty, **overrides)
    assert response.status_code == 422
    body = response.json()
    reported = body.get("field") or body["errors"][0]["field"]
    assert reported == field
    assert message in body["detail"]
    assert session.exec(select(func.count()).select_from(Incident)).one() == 0
    assert declare(client, duty).json()["number"] == "INC-2026-0001"


def test_numbers_increase_and_restart_each_year(client, duty, frozen_clock):
    numbers = [declare(client, duty).json()["number"] for _ in range(3)]
    assert numbers == ["INC-2026-0001", "INC-2026-0002", "INC-2026-0003"]
    frozen_clock.advance(timedelta(days=40))
    assert declare(client, duty).json()["number"] == "INC-2027-0001"


def test_drill_is_flagged(client, duty):
    incident = declare(client, duty, drill=True).json()
    assert incident["drill"] is True
    timeline = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=duty).json()
    assert timeline[0]["summary"].startswith("drill incident")


def test_incident_pins_the_playbook_version_it_was_declared_from(session, duty, tmp_path):
    source = (PROJECT_ROOT / "playbooks" / "service-outage.yaml").read_text(encoding="utf-8")
    path: Path = tmp_path / "service-outage.yaml"
    path.write_text(source, encoding="utf-8")

    def client_for(registry):
        app = create_app(registry=registry, check_schema=False, run_worker=False)

        def test_session():
            session.commit()
            yield session
            session.commit()

        app.dependency_overrides[get_session] = test_session
        return TestClient(app)

    before = client_for(PlaybookRegistry.from_directory(tmp_path, None))
    incident = declare(before, duty, playbook="service-outage").json()
    assert incident["tasks"][0]["key"] == "diagnose"

    path.write_text(
        source.replace("diagnose", "triage_first").replace("key: sev2", "key: minor"),
        encoding="utf-8",
    )
    after = client_for(PlaybookRegistry.from_directory(tmp_path, None))
    again = after.get(f"/api/v1/incidents/{incident['id']}", headers=duty).json()
    assert again["playbook_hash"] == incident["playbook_hash"]
    assert again["tasks"][0]["key"] == "diagnose"
    # Severity changes are checked against the pinned version, not the edited file.
    response = after.post(
        f"/api/v1/incidents/{incident['id']}/severity",
        json={"severity": "minor", "reason": "test"},
        headers=duty,
    )
    assert response.status_code == 422
    response = after.post(
        f"/api/v1/incidents/{incident['id']}/severity",
        json={"severity": "sev2", "reason": "contained"},
        headers=duty,
    )
    assert response.status_code == 200
    newer = declare(after, duty, playbook="service-outage").json()
    assert newer["playbook_hash"] != incident["playbook_hash"]
    assert newer["tasks"][0]["key"] == "triage_first"
