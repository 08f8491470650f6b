"""The review of a resolved incident: the checklist as working-day review tasks, the written
sections, the approval, closing refused until both are done, and follow-ups reminded once per
working day until done."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from incident_cmd import clock
from incident_cmd.i18n import Locale
from incident_cmd.incidents import service as incident_service
from incident_cmd.postmortems import followups, service
from incident_cmd.postmortems.models import FollowUp
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web.event_text import Reading, event_text


def _kinds(session, cast, prefix: str) -> list[TimelineEvent]:
    events = session.exec(
        select(TimelineEvent)
        .where(
            TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == cast.incident.id
        )
        .order_by(TimelineEvent.id)
    ).all()
    return [event for event in events if event.kind.startswith(prefix)]


def _resolve(client, cast, auth):
    response = client.post(
        f"{cast.path}/status", json={"status": "resolved"}, headers=auth(cast.duty)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_no_review_before_resolution(client, cast, auth):
    response = client.get(f"{cast.path}/review", headers=auth(cast.viewer))
    assert response.status_code == 404
    assert "starts when it is resolved" in response.json()["detail"]


def test_resolving_enters_review_with_the_checklist_due_in_working_days(
    client, session, cast, auth, frozen_clock
):
    # Monday 2026-11-23 15:00 in Shanghai.
    frozen_clock.advance(timedelta(hours=6))
    incident = _resolve(client, cast, auth)
    assert incident["status"] == "in_review"
    review = client.get(f"{cast.path}/review", headers=auth(cast.viewer)).json()
    items = {item["key"]: item for item in review["checklist"]}
    assert list(items) == ["timeline", "root_cause", "responsibility", "penalties", "plan_revision"]
    # 3d: Thursday 15:00; 7d: seven working days on, Wednesday 2 December; 14d: two more
    # working weeks less one day, Friday 11 December.
    assert items["timeline"]["due_at"] == "2026-11-26T07:00:00Z"
    assert items["root_cause"]["due_at"] == "2026-12-02T07:00:00Z"
    assert items["responsibility"]["due_at"] == "2026-12-11T07:00:00Z"
    assert items["responsibility"]["owner"] == cast.commander.username
    assert items["timeline"]["owner"] == cast.deputy.username
    assert items["root_cause"]["owner"] == cast.quality.username
    assert items["timeline"]["item_i18n"]["zh-CN"] == "整理事件时间线与各环节响应时间"
    assert review["checklist_complete"] is False and review["closable"] is False
    # The review tasks sit beside the response tasks, marked, keyed apart from them.
    tasks = incident_service.tasks_of(session, incident=cast.incident)
    assert {task.key for task in tasks if task.review} == {"review:" + key for key in items}
    assert "root_cause" in {task.key for task in tasks if not task.review}
    started = _kinds(session, cast, "postmortem.started")
    assert [event.data["count"] for event in started] == [5]


def test_a_day_count_is_working_days_over_a_public_holiday():
    resolved = datetime(2026, 9, 30, 7, tzinfo=UTC)  # the eve of National Day
    # 1–7 October are off; Thursday 8, Friday 9 and Saturday 10 (an adjusted working day) on.
    assert service.review_due(resolved, "3d") == datetime(2026, 10, 10, 7, tzinfo=UTC)
    assert service.review_due(resolved, "3wd") == datetime(2026, 10, 10, 7, tzinfo=UTC)
    assert service.review_due(resolved, "4h") == datetime(2026, 9, 30, 11, tzinfo=UTC)


def test_review_items_are_reminded_by_the_task_overdue_sweep(
    session, client, cast, auth, frozen_clock
):
    _resolve(client, cast, auth)
    # The response tasks, long overdue, go first.
    frozen_clock.advance(timedelta(days=3) - timedelta(seconds=1))
    incident_service.mark_overdue_tasks(session)
    assert _kinds(session, cast, "task.overdue")
    assert all(
        not event.data["task"].startswith("review:")
        for event in _kinds(session, cast, "task.overdue")
    )
    frozen_clock.advance(timedelta(seconds=1))  # Thursday 09:00: the 3d item is due
    assert incident_service.mark_overdue_tasks(session) == 1
    assert incident_service.mark_overdue_tasks(session) == 0
    overdue = _kinds(session, cast, "task.overdue")[-1:]
    assert [event.data["task"] for event in overdue] == ["review:timeline"]
    reading = Reading(
        Locale.zh_CN, "Asia/Shanghai", incident_service.playbook_of(session, cast.incident)
    )
    assert "整理事件时间线与各环节响应时间" in event_text(overdue[0], reading)


def test_closing_waits_for_the_checklist_and_the_approval(client, session, cast, auth):
    _resolve(client, cast, auth)
    duty = auth(cast.duty)
    refused = client.post(f"{cast.path}/status", json={"status": "closed"}, headers=duty)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"{cast.incident.number} cannot be closed: review checklist items not done: "
        "timeline, root_cause, responsibility, penalties, plan_revision; "
        "the review is not approved by the commander or a duty manager"
    )
    # Approval is its own action, by the commander or a duty manager, of a written review.
    approve = f"{cast.path}/review/approve"
    assert client.post(approve, json={}, headers=auth(cast.deputy)).status_code == 403
    assert client.post(approve, json={}, headers=auth(cast.viewer)).status_code == 403
    unwritten = client.post(approve, json={}, headers=auth(cast.commander))
    assert unwritten.status_code == 409 and unwritten.json()["field"] == "summary"
    summary = f"{cast.path}/review/sections/summary"
    assert (
        client.put(
            summary, json={"text": "Batch B7 cells overheated."}, headers=auth(cast.deputy)
        ).status_code
        == 200
    )
    approved = client.post(approve, json={"note": "good"}, headers=auth(cast.commander))
    assert approved.status_code == 200 and approved.json()["approved_by"] == cast.commander.username
    review = client.get(f"{cast.path}/review", headers=duty).json()
    for item in review["checklist"]:
        assert (
            client.post(
                f"{cast.path}/tasks/{item['task_id']}/complete", json={}, headers=duty
            ).status_code
            == 200
        )
    # A change after the approval withdraws it: the approved text is not the text any more.
    changed = client.put(summary, json={"text": "Batch B7 and B8."}, headers=auth(cast.deputy))
    assert changed.json()["approved_at"] is None
    assert changed.json()["missing"] == [
        "the review is not approved by the commander or a duty manager"
    ]
    assert (
        client.post(f"{cast.path}/status", json={"status": "closed"}, headers=duty).status_code
        == 409
    )
    assert client.post(approve, json={}, headers=duty).status_code == 200
    closed = client.post(f"{cast.path}/status", json={"status": "closed"}, headers=duty)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    # Closed, the review is read-only; back in review, the approval is withdrawn.
    assert client.put(summary, json={"text": "late"}, headers=duty).status_code == 409
    reopened = client.post(f"{cast.path}/status", json={"status": "in_review"}, headers=duty)
    assert reopened.status_code == 200
    assert client.get(f"{cast.path}/review", headers=duty).json()["approved_at"] is None
    withdrawn = _kinds(session, cast, "postmortem.approval_withdrawn")
    reading = Reading(Locale.zh_CN, "Asia/Shanghai")
    assert [event_text(event, reading) for event in withdrawn] == [
        "复盘批准已撤回:“概述”部分已修改",
        "复盘批准已撤回:复盘重新开启",
    ]
    kinds = [event.kind for event in _kinds(session, cast, "postmortem.")]
    assert kinds == [
        "postmortem.started",
        "postmortem.section_edited",
        "postmortem.approved",
        "postmortem.section_edited",
        "postmortem.approval_withdrawn",
        "postmortem.approved",
        "postmortem.approval_withdrawn",
        "postmortem.started",
    ]


def test_sections_are_written_by_the_roster_and_duty_managers(client, session, cast, auth):
    _resolve(client, cast, auth)
    path = f"{cast.path}/review/sections"
    assert (
        client.put(f"{path}/causes", json={"text": "x"}, headers=auth(cast.responder)).status_code
        == 403
    )
    assert (
        client.put(f"{path}/causes", json={"text": "x"}, headers=auth(cast.viewer)).status_code
        == 403
    )
    assert (
        client.put(f"{path}/nonsense", json={"text": "x"}, headers=auth(cast.duty)).status_code
        == 422
    )
    too_long = client.put(f"{path}/lucky", json={"text": "x" * 20001}, headers=auth(cast.duty))
    assert too_long.status_code == 422
    for section, who in (
        ("causes", cast.quality),
        ("went_well", cast.duty),
        ("lucky", cast.commander),
    ):
        response = client.put(
            f"{path}/{section}", json={"text": f"  {section} text "}, headers=auth(who)
        )
        assert response.status_code == 200
        assert response.json()["sections"][section] == f"{section} text"
    # The same text again changes nothing and says nothing.
    client.put(f"{path}/causes", json={"text": "causes text"}, headers=auth(cast.quality))
    edits = _kinds(session, cast, "postmortem.section_edited")
    assert [(event.data["section"], event.data["text"]) for event in edits] == [
        ("causes", "causes text"),
        ("went_well", "went_well text"),
        ("lucky", "lucky text"),
    ]
    reading = Reading(Locale.zh_CN, "Asia/Shanghai")
    assert event_text(edits[0], reading) == "复盘“原因与促成因素”部分已修改"


def test_starred_entries_are_listed(client, session, cast, auth):
    events = _kinds(session, cast, "incident.declared")
    starred = client.post(f"{cast.path}/timeline/{events[0].id}/star", headers=auth(cast.duty))
    assert starred.status_code == 200
    _resolve(client, cast, auth)
    review = client.get(f"{cast.path}/review", headers=auth(cast.viewer)).json()
    assert [entry["id"] for entry in review["starred"]] == [events[0].id]


def test_followups_are_reminded_once_per_working_day_until_done(
    client, session, cast, auth, frozen_clock
):
    _resolve(client, cast, auth)
    path = f"{cast.path}/review/followups"
    duty = auth(cast.duty)
    past = client.post(
        path,
        json={"title": "x", "owner": cast.deputy.username, "due_on": "2026-11-22"},
        headers=duty,
    )
    assert past.status_code == 422 and past.json()["field"] == "due_on"
    nobody = client.post(
        path, json={"title": "x", "owner": "nobody", "due_on": "2026-11-27"}, headers=duty
    )
    assert nobody.status_code == 422 and nobody.json()["field"] == "owner"
    outsider = client.post(
        path,
        json={"title": "x", "owner": cast.deputy.username, "due_on": "2026-11-27"},
        headers=auth(cast.responder),
    )
    assert outsider.status_code == 403
    assert session.exec(select(FollowUp)).all() == []
    # Due Friday 27 November: late from Saturday 00:00 in Shanghai.
    made = client.post(
        path,
        json={"title": "Add a thermal fuse", "owner": cast.deputy.username, "due_on": "2026-11-27"},
        headers=duty,
    )
    assert made.status_code == 201, made.text
    followup = made.json()
    assert followup["due_at"] == "2026-11-27T16:00:00Z" and followup["state"] == "open"
    frozen_clock.set(datetime(2026, 11, 27, 15, 59, tzinfo=UTC))
    assert followups.remind_followups(session) == 0
    frozen_clock.set(datetime(2026, 11, 27, 16, 0, tzinfo=UTC))
    assert followups.remind_followups(session) == 1
    assert followups.remind_followups(session) == 0
    # Sunday is no working day: the next step is Monday 00:00.
    frozen_clock.set(datetime(2026, 11, 29, 15, 59, tzinfo=UTC))
    assert followups.remind_followups(session) == 0
    frozen_clock.set(datetime(2026, 11, 29, 16, 0, tzinfo=UTC))
    assert followups.remind_followups(session) == 1
    # A sweep that was down for days says the step it is in once.
    frozen_clock.set(datetime(2026, 12, 3, 17, 0, tzinfo=UTC))
    assert followups.remind_followups(session) == 1
    assert followups.remind_followups(session) == 0
    reminders = _kinds(session, cast, "postmortem.followup_overdue")
    assert [event.data["late_days"] for event in reminders] == [0, 1, 5]
    assert event_text(reminders[1], Reading(Locale.en, "Asia/Shanghai")) == (
        f"Follow-up “Add a thermal fuse” of {cast.deputy.username} is overdue "
        "(due 2026-11-27, 1 working days late)"
    )
    # Its owner marks it done (nobody else off the roster may); then no more reminders.
    done_path = f"{path}/{followup['id']}/done"
    assert client.post(done_path, json={}, headers=auth(cast.responder)).status_code == 403
    done = client.post(done_path, json={"note": "fitted"}, headers=auth(cast.deputy))
    assert done.status_code == 200 and done.json()["state"] == "done"
    frozen_clock.advance(timedelta(days=10))
    assert followups.remind_followups(session) == 0
    assert len(_kinds(session, cast, "postmortem.followup_done")) == 1


def test_end_of_day_is_midnight_in_the_organisation_zone():
    assert service.end_of_day(date(2026, 11, 27)) == datetime(2026, 11, 27, 16, tzinfo=UTC)
    assert clock.now() == datetime(2026, 11, 23, 1, tzinfo=UTC)


@pytest.mark.parametrize("route", ["sections/summary", "approve", "followups"])
def test_viewers_only_read(client, cast, auth, route):
    _resolve(client, cast, auth)
    method = client.put if route.startswith("sections") else client.post
    response = method(f"{cast.path}/review/{route}", json={}, headers=auth(cast.viewer))
    assert response.status_code == 403
