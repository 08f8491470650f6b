"""Situation reports (态势报告): compiled on the playbook's cadence for the incident's severity
(once per step, however many workers sweep) and on demand, from the incident's data, sent to
the commander and deputy by SMS and email, kept, and shown to the staff."""

import threading
from datetime import timedelta

import pytest
from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.auth.models import Role, User
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.schemas import Scope, StatusChange
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.sitreps import flows, service
from incident_cmd.sitreps.models import SituationReport
from incident_cmd.timeline import service as timeline
from tests.factories import bearer, make_incident, make_ticket, make_user
from tests.plugins.web import sign_in

SCOPE = Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"])


def _seated(session, incident, role_key) -> User:
    seat = incident_service.seat_at(session, incident=incident, role_key=role_key, slot=0)
    assert seat is not None and seat.user_id is not None
    return session.get_one(User, seat.user_id)


def _sent(session, report: SituationReport) -> list[DirectMessage]:
    query = select(DirectMessage).where(
        DirectMessage.source == flows.SOURCE, DirectMessage.source_id == report.id
    )
    return list(session.exec(query.order_by(col(DirectMessage.id))).all())


@pytest.fixture
def recall(session, shipped_playbooks):
    """A sev1 recall (a report every 2 hours), declared at the start of the test's clock."""
    return make_incident(session, registry=shipped_playbooks, scope=SCOPE)


def test_each_cadence_step_is_reported_once(session, recall, frozen_clock):
    assert flows.send_due_reports(session) == 0  # nothing due at declaration
    frozen_clock.advance(timedelta(hours=2) - timedelta(seconds=1))
    assert flows.send_due_reports(session) == 0
    frozen_clock.advance(timedelta(seconds=1))
    assert flows.send_due_reports(session) == 1
    assert flows.send_due_reports(session) == 0
    frozen_clock.advance(timedelta(hours=2))
    assert flows.send_due_reports(session) == 1
    # A worker down for five hours reports the step it finds due, not every step it missed.
    frozen_clock.advance(timedelta(hours=5))
    assert flows.send_due_reports(session) == 1
    reports = service.reports_of(session, incident_id=recall.id)
    assert [report.number for report in reports] == [3, 2, 1]
    steps = [report.due_at - recall.declared_at for report in reversed(reports)]
    assert steps == [timedelta(hours=2), timedelta(hours=4), timedelta(hours=8)]


def test_the_cadence_follows_the_severity(session, shipped_playbooks, frozen_clock):
    minor = make_incident(session, registry=shipped_playbooks, severity="sev3", scope=SCOPE)
    frozen_clock.advance(timedelta(hours=4))
    assert flows.send_due_reports(session) == 0  # sev3: every 8 hours
    frozen_clock.advance(timedelta(hours=4))
    assert flows.send_due_reports(session) == 1
    assert service.latest(session, incident_id=minor.id).number == 1


def test_a_resolved_incident_is_no_longer_reported(session, recall, frozen_clock):
    duty = make_user(session, Role.duty_manager)
    incident_service.transition(
        session, incident=recall, change=StatusChange(status="resolved"), actor=duty
    )
    frozen_clock.advance(timedelta(hours=2))
    assert flows.send_due_reports(session) == 0


def test_the_report_is_compiled_from_the_incident_s_data(
    session, recall, shipped_playbooks, frozen_clock
):
    make_ticket(session, registry=shipped_playbooks, product_model="PX-200", batch="B7")
    make_ticket(session, registry=shipped_playbooks, product_model="PX-200", batch="B7")
    commander = _seated(session, recall, "commander")
    frozen_clock.advance(timedelta(hours=2))
    flows.send_due_reports(session)
    first = service.latest(session, incident_id=recall.id).content
    assert first["incident"] == recall.number and first["status"] == "declared"
    assert first["complaints"]["linked"] == 2 and first["complaints"]["new_since_last_report"] == 2
    assert sum(point["count"] for point in first["complaints"]["by_hour"]) == 2
    roster = first["roster"]
    assert roster["acknowledged"] == 0 and len(roster["waiting"]) == roster["seats"] > 0
    assert {"role": "commander", "person": commander.username} in roster["waiting"]
    tasks = incident_service.tasks_of(session, incident=recall)
    overdue = [task.key for task in tasks if task.due_at <= recall.declared_at + timedelta(hours=2)]
    assert sorted(task["key"] for task in first["tasks"]["overdue"]) == sorted(overdue)
    assert first["tasks"] == {"done": 0, "total": len(tasks), "overdue": first["tasks"]["overdue"]}
    drafted = [campaign["name"] for campaign in first["campaigns"]]
    assert drafted and first["decisions"]["notices_to_approve"] == len(drafted)
    assert first["statements"] == {"published": 0, "latest_stage": None, "latest_at": None}
    # One more complaint; the next report counts it as new.
    frozen_clock.advance(timedelta(minutes=30))
    make_ticket(session, registry=shipped_playbooks, product_model="PX-200", batch="B7")
    frozen_clock.advance(timedelta(hours=1, minutes=30))
    flows.send_due_reports(session)
    second = service.latest(session, incident_id=recall.id).content
    assert second["complaints"]["linked"] == 3
    assert second["complaints"]["new_since_last_report"] == 1


def test_it_goes_to_the_commander_and_deputy_by_sms_and_email(session, recall, frozen_clock):
    commander, deputy = _seated(session, recall, "commander"), _seated(session, recall, "deputy")
    frozen_clock.advance(timedelta(hours=2))
    flows.send_due_reports(session)
    report = service.latest(session, incident_id=recall.id)
    sent = _sent(session, report)
    expected = {
        (channel, address)
        for person in (commander, deputy)
        for channel, address in (("sms", person.phone), ("email", person.email))
        if address
    }
    assert {(message.channel, message.address) for message in sent} == expected
    link = f"/incidents/{recall.id}/reports/1"
    sms = [message for message in sent if message.channel == "sms"]
    assert sms and all(link in message.body and len(message.body) < 300 for message in sms)
    email = next(message for message in sent if message.channel == "email")
    assert link in email.body and recall.number in email.subject
    [entry] = [
        event
        for event in timeline.events_for(session, subject_type="incident", subject_id=recall.id)
        if event.kind == "sitrep.compiled"
    ]
    assert entry.data["scheduled"] is True and entry.data["number"] == 1


def test_the_command_center_asks_for_one_at_any_time(client, session, recall):
    path = f"/api/v1/incidents/{recall.id}/reports"
    for role in (Role.agent, Role.viewer):
        refused = client.post(path, headers=bearer(session, make_user(session, role)))
        assert refused.status_code == 403
    responder = make_user(session, Role.responder)
    asked = client.post(path, headers=bearer(session, responder))
    assert asked.status_code == 201, asked.text
    assert asked.json()["requested_by"] == responder.username
    assert asked.json()["scheduled"] is False and asked.json()["number"] == 1
    viewer = bearer(session, make_user(session, Role.viewer))
    [listed] = client.get(path, headers=viewer).json()
    assert listed["number"] == 1
    read = client.get(f"{path}/1", headers=viewer).json()
    assert read["content"]["incident"] == recall.number
    assert client.get(f"{path}/2", headers=viewer).status_code == 404


def test_a_resolved_incident_refuses_a_report_and_keeps_nothing(client, session, recall):
    duty = make_user(session, Role.duty_manager)
    incident_service.transition(
        session, incident=recall, change=StatusChange(status="resolved"), actor=duty
    )
    refused = client.post(f"/api/v1/incidents/{recall.id}/reports", headers=bearer(session, duty))
    assert refused.status_code == 409 and "for open incidents" in refused.text
    assert service.reports_of(session, incident_id=recall.id) == []


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_reports_page_shows_the_latest_report_in_the_reader_s_language(
    client, session, recall, frozen_clock, locale
):
    frozen_clock.advance(timedelta(hours=2))
    flows.send_due_reports(session)
    sign_in(client, session, Role.responder, locale=locale)
    page = client.get(f"/incidents/{recall.id}/reports")
    assert page.status_code == 200
    words = {
        "zh-CN": ("态势报告", "第 1 期报告", "个席位中"),
        "en": ("Situation reports", "Report 1", "seats acknowledged"),
    }
    assert all(word in page.text for word in words[locale])
    assert f'action="/incidents/{recall.id}/reports"' in page.text
    room = client.get(f"/incidents/{recall.id}")
    assert f'href="/incidents/{recall.id}/reports"' in room.text


def test_only_the_command_center_sees_the_button(client, session, recall):
    sign_in(client, session, Role.agent)
    page = client.get(f"/incidents/{recall.id}/reports")
    assert page.status_code == 200 and '/reports" class="sitrep-ask"' not in page.text
    assert 'class="sitrep-ask"' not in page.text


def test_two_workers_sweeping_at_once_report_a_step_once(
    fresh_database, shipped_playbooks, frozen_clock
):
    if fresh_database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    engine = fresh_database.engine
    with db.session_scope(engine) as session:
        incident_id = make_incident(session, registry=shipped_playbooks, scope=SCOPE).id
    frozen_clock.advance(timedelta(hours=2))
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def sweep() -> None:
        barrier.wait()
        try:
            with db.session_scope(engine) as session:
                outcomes.append(flows.send_due_reports(session))
        except BaseException as exc:  # collected and asserted below
            outcomes.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [0, 1], outcomes
    with db.session_scope(engine) as session:
        assert [r.number for r in service.reports_of(session, incident_id=incident_id)] == [1]
