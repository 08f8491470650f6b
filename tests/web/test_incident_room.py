"""The incident room: every section of an incident for each role, its actions through the
same flows as the API with the same role rules, refusals shown next to the form that was
sent, both languages, and the main flow in Chromium at desk and phone width."""

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from incident_cmd.incidents.models import IncidentTask, TaskStatus
from incident_cmd.incidents.schemas import Scope
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import (
    make_customer,
    make_incident,
    make_ticket,
    make_user,
    new_york_customers,
    shanghai_customers,
)
from tests.plugins.web import ORIGIN, PASSWORD, chromium, login, needs_chromium

SHOTS = Path("/tmp/shots")
SECTIONS = ("header", "roster", "tasks", "campaigns", "timeline", "tickets")


def _token(page_text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert match, page_text
    return match.group(1)


def _sign_in(client, user):
    assert login(client, user.username).status_code == 303


@pytest.fixture
def recall(session, shipped_playbooks):
    """A recall declared by an English-speaking duty manager, with a customer in its batch, a
    linked ticket, its roster paged, and its SMS notice approved by comms and sending."""
    make_customer(session, name="王女士", purchases=(("PX-200", "B7"),))
    make_customer(session, name="Mr Smith", locale="en", timezone="Asia/Shanghai")
    duty = make_user(session, Role.duty_manager, password=PASSWORD, locale="en", contactable=True)
    incident = make_incident(
        session,
        registry=shipped_playbooks,
        title="PX-200 battery overheating",
        scope=Scope(products=["PX-200"], batches=["B7"]),
        actor=duty,
    )
    make_ticket(
        session,
        registry=shipped_playbooks,
        description="充电时电池发烫",
        product_model="PX-200",
        batch="B7",
    )
    comms = make_user(session, Role.comms, password=PASSWORD, locale="en")
    campaign_service.approve(
        session, campaign=_campaign(session, incident, "recall_sms"), actor=comms
    )
    campaign_service.start_due_campaigns(session)
    session.flush()
    return incident, duty


def _campaign(session, incident, plan) -> Campaign:
    return session.exec(
        select(Campaign).where(Campaign.incident_id == incident.id, Campaign.plan_key == plan)
    ).one()


def _task(session, incident, key) -> IncidentTask:
    return session.exec(
        select(IncidentTask).where(IncidentTask.incident_id == incident.id, IncidentTask.key == key)
    ).one()


def _kinds(session, incident) -> list[str]:
    return list(
        session.exec(
            select(TimelineEvent.kind).where(
                TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == incident.id
            )
        )
    )


def _room(client, incident_id, **params):
    page = client.get(f"/incidents/{incident_id}", params=params)
    assert page.status_code == 200, page.text
    return page.text


def _post(client, incident_id, path, data):
    token = _token(client.get(f"/incidents/{incident_id}").text)
    return client.post(
        f"/incidents/{incident_id}{path}",
        data={**data, "csrf_token": token},
        headers=ORIGIN,
        follow_redirects=False,
    )


def test_the_room_shows_every_section(client, session, recall):
    incident, duty = recall
    _sign_in(client, duty)
    text = _room(client, incident.id)
    for section in SECTIONS:
        assert f'id="room-{section}"' in text
    assert incident.number in text and "PX-200 battery overheating" in text
    assert "Level 1 (threat to life or property)" in text  # the playbook's severity name
    assert "Commander" in text and "Quality lead" in text  # role titles in English
    assert "Assess severity and affected scope" in text
    assert "30 min left" in text  # respond within 30 minutes, declared just now
    assert "Paging" in text and "target 5 min" in text  # the commander's page, ack_within 5m
    assert "recall_email" in text and "needs a second person to approve" in text
    assert "充电时电池发烫" in text and "Linked tickets" in text
    assert f"incident {incident.number} declared" in text
    # The funnel's data on its chart's box (a live refresh swaps it in with the box; htmx
    # drops script elements), its code in a static file.
    data = re.search(r"data-funnel='([^']*)'", text)
    assert data, text
    stages = {stage["key"]: stage["value"] for stage in json.loads(data.group(1))["stages"]}
    assert stages["pending"] == 2 and stages["delivered"] == 0
    assert '<script src="/static/room.js" defer></script>' in text
    assert f'sse-connect="/live/incidents/{incident.id}"' in text
    assert 'hx-trigger="sse:incident, room-refresh' in text
    for section in SECTIONS:
        fragment = client.get(f"/incidents/{incident.id}/fragments/{section}")
        assert fragment.status_code == 200
        assert f'id="room-{section}"' in fragment.text and "<html" not in fragment.text
    assert client.get(f"/incidents/{incident.id}/fragments/nothing").status_code == 404
    assert client.get("/incidents/999999").status_code == 404


def test_the_room_needs_a_login(client, session, recall):
    incident, _ = recall
    response = client.get(f"/incidents/{incident.id}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_a_viewer_reads_the_room_without_actions_or_contacts(client, session, recall):
    incident, _ = recall
    viewer = make_user(session, Role.viewer, password=PASSWORD, locale="en")
    _sign_in(client, viewer)
    text = _room(client, incident.id)
    assert "Commander" in text and "Assess severity" in text
    assert re.search(r'<form method="post" action="/incidents/', text) is None
    assert "tel:" not in text and "+86136" not in text
    assert "Preview" not in text
    refused = _post(client, incident.id, "/status", {"status": "active"})
    assert refused.status_code == 403
    assert "may not do this" in refused.text
    session.refresh(incident)
    assert incident.status == "declared"


def test_a_responder_posts_updates_and_a_duty_manager_runs_the_incident(client, session, recall):
    incident, duty = recall
    responder = make_user(session, Role.responder, password=PASSWORD, locale="en")
    _sign_in(client, responder)
    text = _room(client, incident.id)
    assert f'action="/incidents/{incident.id}/updates"' in text
    assert f'action="/incidents/{incident.id}/status"' not in text
    assert f'action="/incidents/{incident.id}/roster"' not in text
    assert 'name="public"' not in text  # public wording is for comms and duty managers
    assert "tel:" in text  # a responder may call the people on the roster
    refused = _post(
        client,
        incident.id,
        "/updates",
        {"body": "hello", "public": "true", "status": "investigating"},
    )
    assert refused.status_code == 403
    assert "update.public" not in _kinds(session, incident)

    client.cookies.clear()
    _sign_in(client, duty)
    text = _room(client, incident.id)
    for action in ("status", "severity", "updates", "roster", "roster/add"):
        assert f'action="/incidents/{incident.id}/{action}"' in text
    assert 'name="public"' in text


def test_a_task_waiting_for_another_cannot_be_completed(client, session, recall):
    incident, duty = recall
    _sign_in(client, duty)
    text = _room(client, incident.id)
    notice = _task(session, incident, "recall_notice")
    assert "Waits for “Assess severity and affected scope”, which is not done yet." in text
    response = _post(client, incident.id, f"/tasks/{notice.id}/complete", {"note": "done"})
    assert response.status_code == 409
    form = re.search(
        rf'<form[^>]*data-form="task-{notice.id}"[^>]*>(.*?)</form>', response.text, re.S
    )
    assert form and "waits for &#39;assess&#39;, which is not done" in form.group(1)
    session.refresh(notice)
    assert notice.status == TaskStatus.open
    assert "task.completed" not in _kinds(session, incident)

    assess = _task(session, incident, "assess")
    done = _post(client, incident.id, f"/tasks/{assess.id}/complete", {"note": "batch B7 only"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/incidents/{incident.id}#room-tasks"
    session.refresh(assess)
    assert assess.status == TaskStatus.done


def test_overdue_tasks_deadlines_and_late_pages_are_marked(client, session, recall, frozen_clock):
    incident, duty = recall
    frozen_clock.advance(timedelta(hours=3))
    _sign_in(client, duty)
    text = _room(client, incident.id)
    assert "2 overdue" in text  # assessing and freezing shipments were due within 2 h
    assert text.count("task task-open task-overdue") == 2
    assert "overdue 1 h 0 min" in text
    assert "overdue 2 h 30 min" in text  # the response was due within 30 minutes
    assert "overdue 2 h 55 min" in text  # the commander was to acknowledge within 5 minutes
    assert "countdown-overdue" in text


def test_status_change_and_internal_update_appear_on_the_timeline(client, session, recall):
    incident, duty = recall
    _sign_in(client, duty)
    moved = _post(client, incident.id, "/status", {"status": "active", "note": "all hands"})
    assert moved.status_code == 303
    posted = _post(client, incident.id, "/updates", {"body": "Warehouse B7 stock frozen"})
    assert posted.status_code == 303
    text = _room(client, incident.id)
    assert "status declared → active: all hands" in text
    assert "Warehouse B7 stock frozen" in text
    newest = re.findall(r'data-kind="([a-z_.]+)"', text)
    assert newest[:2] == ["update.internal", "incident.status"]  # newest first
    only_status = _room(client, incident.id, timeline="status")
    kinds = set(re.findall(r'data-kind="([a-z_.]+)"', only_status))
    assert kinds == {"update.internal", "incident.status", "incident.declared"}
    only_roster = set(
        re.findall(r'data-kind="([a-z_.]+)"', _room(client, incident.id, timeline="roster"))
    )
    assert "incident.status" not in only_roster and "roster.assigned" in only_roster
    # A move the status does not allow is refused next to the status form, nothing changed.
    refused = _post(client, incident.id, "/status", {"status": "closed"})
    assert refused.status_code == 409
    assert "cannot move" in refused.text and 'data-form="status"' in refused.text
    session.refresh(incident)
    assert incident.status == "active"


def test_campaigns_preview_and_two_person_approval(client, session, recall):
    incident, duty = recall
    email = _campaign(session, incident, "recall_email")
    sms = _campaign(session, incident, "recall_sms")
    _sign_in(client, duty)
    text = _room(client, incident.id, preview=sms.id)
    assert "Encoding" in text and "UCS-2" in text and "Segments" in text
    assert "estimated cost" in text
    assert "PX-200 battery overheating" in text
    refused = _post(client, incident.id, f"/campaigns/{email.id}/approve", {})
    assert refused.status_code == 403
    assert "this campaign needs a second person" in refused.text
    session.refresh(email)
    assert email.status == CampaignStatus.draft

    paused = _post(client, incident.id, f"/campaigns/{sms.id}/pause", {})
    assert paused.status_code == 303
    session.refresh(sms)
    assert sms.status == CampaignStatus.paused


def test_the_room_speaks_chinese(client, session, recall):
    incident, _ = recall
    chinese = make_user(session, Role.duty_manager, password=PASSWORD, locale="zh-CN")
    _sign_in(client, chinese)
    text = _room(client, incident.id)
    assert '<html lang="zh-CN">' in text
    for words in (
        "应急人员",
        "总指挥",
        "初步评估问题严重程度和影响范围",
        "剩余30 分钟",
        "客户通知",
        "时间线",
        "关联工单",
        "一级(危及人身财产安全)",
        "变更状态",
        "呼叫中",
    ):
        assert words in text, words
    assert "Roster" not in text and "Commander" not in text


# --- in Chromium ---------------------------------------------------------------------------


def _browser_login(browser, base_url, username, **context):
    page = browser.new_page(**context)
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: not url.endswith("/login"))
    return page


def _shot(page, tmp_path, name):
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def _deliveries_under_way(campaign_id: int) -> None:
    """The notice started, two messages delivered and one failed at the provider."""
    with db.session_scope() as session:
        campaign_service.start_due_campaigns(session)
    with db.session_scope() as session:
        ids = session.exec(
            select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).all()
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(ids[:2]))
            .values(status=DeliveryStatus.delivered, provider_id="SM1")
        )
        session.execute(
            update(Delivery)
            .where(col(Delivery.id) == ids[2])
            .values(status=DeliveryStatus.failed, provider_id="SM2", error_code="30006")
        )


@needs_chromium
def test_comms_previews_and_a_second_person_approves_in_chromium(world, live_server, tmp_path):
    world.import_customers(shanghai_customers(3) + new_york_customers(2))
    incident_id = world.declare_recall()
    sms_id = world.campaign_for(incident_id, "recall_sms")
    with db.session_scope() as session:
        for username, locale in ((world.duty_manager, "en"), (world.comms, "zh-CN")):
            person = world.user(session, username)
            auth_service.set_password(session, user=person, password=PASSWORD, actor_id=None)
            auth_service.update_user(
                session, user=person, data=UserUpdate(locale=locale), actor_id=None
            )
    room = f"{live_server}/incidents/{incident_id}"
    campaign = f"#campaign-{sms_id}"
    desk = {"viewport": {"width": 1280, "height": 900}}
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}

    with chromium() as browser:
        # The duty manager who declared drafted the notice: the service wants a second person.
        duty = _browser_login(browser, live_server, world.duty_manager, locale="en-US", **desk)
        duty.goto(room)
        duty.click(f"{campaign} >> text=Preview")
        duty.wait_for_selector(f"#preview-{sms_id}")
        assert "UCS-2" in duty.inner_text(f"#preview-{sms_id}")
        duty.click(f"{campaign} button[value=approve]")
        alert = duty.wait_for_selector(f"{campaign} [role=alert]")
        assert "needs a second person" in alert.inner_text()
        assert world.campaign(sms_id).status == CampaignStatus.draft

        # Comms previews the SMS in both languages and approves it.
        comms = _browser_login(browser, live_server, world.comms, locale="zh-CN", **desk)
        comms.goto(room)
        comms.click(f"{campaign} >> text=预览")
        preview = comms.wait_for_selector(f"#preview-{sms_id}")
        text = preview.inner_text()
        assert "INC-2026" in text and "UCS-2" in text and "短信条数" in text
        _shot(comms, tmp_path, "room-preview-zh-CN-1280")
        comms.click(f"{campaign} button[value=approve]")
        comms.wait_for_selector(f"{campaign} .campaign-approved")
        assert world.campaign(sms_id).status == CampaignStatus.approved

        _deliveries_under_way(sms_id)
        comms.goto(room)
        comms.wait_for_selector(f"{campaign} [data-funnel] canvas")
        _shot(comms, tmp_path, "room-zh-CN-1280")
        duty.goto(room)
        duty.wait_for_selector(f"{campaign} [data-funnel] canvas")
        _shot(duty, tmp_path, "room-en-1280")

        for username, locale, name in (
            (world.comms, "zh-CN", "room-zh-CN-390"),
            (world.duty_manager, "en-US", "room-en-390"),
        ):
            small = _browser_login(browser, live_server, username, locale=locale, **phone)
            small.goto(room)
            small.wait_for_selector(f"{campaign} [data-funnel] canvas")
            width = small.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{name} scrolls sideways ({width}px)"
            _shot(small, tmp_path, name)
