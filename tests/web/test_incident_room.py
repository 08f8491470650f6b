"""The incident room: every section of an incident for each role, its actions through the
same flows as the API with the same role rules, refusals shown next to the form that was
sent, both languages, and the main flow in Chromium at desk and phone width."""

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident, IncidentTask, TaskStatus
from incident_cmd.incidents.schemas import Scope, UpdatePost
from incident_cmd.paging import jobs
from incident_cmd.paging.answers import acknowledge, decline
from incident_cmd.paging.models import AnswerRoute, PageStatus, TargetStatus
from incident_cmd.paging.queries import pages_of, targets_of
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import (
    bearer,
    make_customer,
    make_incident,
    make_ticket,
    make_user,
    new_york_customers,
    shanghai_customers,
)
from tests.plugins.paging import declare_recall
from tests.plugins.web import ORIGIN, PASSWORD, chromium, login, needs_chromium, sign_in

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
    assert f"Incident {incident.number} declared" in text
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
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=%2Fincidents%2F{incident.id}"


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
    assert 'name="public"' not in text  # public wording is a statement, approved apart
    assert f'href="/incidents/{incident.id}/statements"' in text
    assert "Nothing published yet" in text
    assert "tel:" in text  # a responder may call the people on the roster

    client.cookies.clear()
    _sign_in(client, duty)
    text = _room(client, incident.id)
    for action in ("status", "severity", "updates", "roster", "roster/add"):
        assert f'action="/incidents/{incident.id}/{action}"' in text
    assert f'href="/incidents/{incident.id}/statements"' in text


def _seat_row(page_text: str, role: str, slot: int = 0) -> str:
    row = re.search(rf'<tr data-role="{role}" data-slot="{slot}".*?</tr>', page_text, re.S)
    assert row, page_text
    return row.group(0)


def _commanders_page(session, incident):
    pages = pages_of(session, incident=incident)
    return [page for page in pages if page.role_key == "commander"][-1]


def test_a_duty_manager_pages_a_seat_again_until_it_is_acknowledged(client, session, recall):
    incident, duty = recall
    _sign_in(client, duty)
    page_again = f'action="/incidents/{incident.id}/roster/page"'
    assert page_again in _seat_row(_room(client, incident.id), "commander")
    first = _commanders_page(session, incident)
    seat = {"role": "commander", "slot": "0"}

    response = _post(client, incident.id, "/roster/page", seat)
    assert response.status_code == 303
    assert response.headers["location"] == f"/incidents/{incident.id}#room-roster"
    again = _commanders_page(session, incident)
    assert again.id != first.id and again.status == PageStatus.open
    session.refresh(first)
    assert first.status == PageStatus.cancelled
    text = _room(client, incident.id)
    assert "Page again" in _seat_row(text, "commander")
    assert "Commander paged again from the start of its chain, beginning with" in text

    # Once acknowledged the seat has no button; a click made before that is refused beside it.
    [target] = targets_of(session, page_ids=[again.id])
    acknowledge(session, target=target, via=AnswerRoute.api)
    session.flush()
    assert page_again not in _seat_row(_room(client, incident.id), "commander")
    refused = _post(client, incident.id, "/roster/page", seat)
    assert refused.status_code == 409
    row = _seat_row(refused.text, "commander")
    assert 'id="error-page-commander-0"' in row and "already acknowledged" in row
    assert _commanders_page(session, incident).id == again.id


def test_only_a_duty_manager_pages_again_and_only_with_the_forms_token(client, session, recall):
    incident, duty = recall
    first = _commanders_page(session, incident)
    seat = {"role": "commander", "slot": "0"}
    responder = make_user(session, Role.responder, password=PASSWORD, locale="en")
    _sign_in(client, responder)
    assert "/roster/page" not in _room(client, incident.id)
    refused = _post(client, incident.id, "/roster/page", seat)
    assert refused.status_code == 403 and "may not do this" in refused.text

    client.cookies.clear()
    _sign_in(client, duty)
    forged = client.post(
        f"/incidents/{incident.id}/roster/page",
        data=seat,
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert _commanders_page(session, incident).id == first.id
    assert "page.requested" not in _kinds(session, incident)


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
    assert "Status Declared → Responding: all hands" in text
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
    # An email is not cut into segments, nor priced per message.
    emailed = _room(client, incident.id, preview=email.id)
    assert 'id="preview-' in emailed and "Segments" not in emailed
    assert "estimated cost" not in emailed
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


# --- the complaint curve ---------------------------------------------------------------------

# The scope the curve is drawn for: batch B7 (so a PX-200 of another batch is not in it) and
# the region Fujian (whatever the product).
CURVE_SCOPE = Scope(products=["PX-200"], batches=["B7"], regions=["Fujian"])


def _curve(page_text: str) -> dict:
    data = re.search(r"data-curve='([^']*)'", page_text)
    assert data, page_text
    return json.loads(data.group(1).replace("&#39;", "'"))


def _per_label(curve: dict) -> dict[str, int]:
    return dict(zip(curve["labels"], curve["counts"], strict=True))


def _complaint(session, registry, **where) -> None:
    make_ticket(session, registry=registry, description="充电时电池发烫", **where)


def _complaints_around_a_declaration(session, registry, frozen_clock) -> Incident:
    """Complaints in and out of the scope over the day before a recall declared on 24
    November at 03:10 UTC (11:10 in Shanghai), and one after it; the clock left at 04:20 UTC
    (12:20 in Shanghai)."""
    # 26 hours before the declaration: earlier than the curve starts.
    _complaint(session, registry, product_model="PX-200", batch="B7")
    frozen_clock.advance(timedelta(hours=24))  # 24 Nov 01:00 UTC, 09:00 in Shanghai
    _complaint(session, registry, product_model="PX-200", batch="B7")
    frozen_clock.advance(timedelta(minutes=30))
    _complaint(session, registry, product_model="PX-200", batch="B7")
    _complaint(session, registry, product_model="PX-900", region="Fujian")
    _complaint(session, registry, product_model="PX-200", batch="B8")  # not in the scope
    _complaint(session, registry, product_model="PX-900", batch="Z1", region="Hubei")
    frozen_clock.advance(timedelta(minutes=100))
    incident = make_incident(session, registry=registry, scope=CURVE_SCOPE, title="PX-200 B7 过热")
    frozen_clock.advance(timedelta(minutes=70))
    _complaint(session, registry, product_model="PX-200", batch="B7")
    return incident


@pytest.fixture
def curve_incident(session, shipped_playbooks, frozen_clock) -> Incident:
    return _complaints_around_a_declaration(session, shipped_playbooks, frozen_clock)


def test_the_complaint_curve_counts_the_scope_per_hour_in_the_readers_zone(
    client, session, curve_incident
):
    sign_in(client, session, timezone="Asia/Shanghai")
    text = _room(client, curve_incident.id)
    curve = _curve(text)
    # From the hour 24 hours before the declaration to this hour, every hour shown.
    assert curve["labels"][0] == "11-23 11:00" and curve["labels"][-1] == "11-24 12:00"
    assert len(curve["labels"]) == 26
    hours = _per_label(curve)
    assert hours["11-24 09:00"] == 3  # B7 twice and Fujian; B8 and Hubei are not in it
    assert hours["11-24 12:00"] == 1
    assert sum(curve["counts"]) == 4
    assert curve["declared"] == "11-24 11:00" and hours["11-24 11:00"] == 0
    assert curve["series"] == "Complaints" and curve["declaredName"] == "Declared at"
    assert "4 complaints since 2026-11-23 11:10 CST" in text
    assert "Complaints per hour in the scope" in text

    client.cookies.clear()
    sign_in(client, session, timezone="America/New_York")
    new_york = _curve(client.get(f"/incidents/{curve_incident.id}/fragments/tickets").text)
    assert new_york["counts"] == curve["counts"]
    assert new_york["labels"][0] == "11-22 22:00"  # 03:00 UTC, the day before, in New York
    assert new_york["declared"] == "11-23 22:00"
    assert _per_label(new_york)["11-23 20:00"] == 3


def test_the_complaint_curve_speaks_chinese_and_stops_when_the_incident_ends(
    client, session, curve_incident, frozen_clock
):
    sign_in(client, session, locale="zh-CN")
    text = _room(client, curve_incident.id)
    assert "范围内每小时投诉量" in text and "自 2026-11-23 11:10 CST 起共 4 件投诉" in text
    curve = _curve(text)
    assert curve["series"] == "投诉工单" and curve["declaredName"] == "启动时间"
    assert _post(client, curve_incident.id, "/status", {"status": "resolved"}).status_code == 303
    frozen_clock.advance(timedelta(hours=5))
    later = _curve(client.get(f"/incidents/{curve_incident.id}/fragments/tickets").text)
    assert later["labels"][-1] == "11-24 12:00", "the curve went on after the resolution"


def test_a_long_incident_shows_its_last_week(client, session, curve_incident, frozen_clock):
    frozen_clock.advance(timedelta(days=9))
    sign_in(client, session)
    curve = _curve(_room(client, curve_incident.id))
    assert len(curve["labels"]) == 7 * 24 + 1
    assert curve["declared"] is None  # the declaration is before the week shown
    assert sum(curve["counts"]) == 0


# --- paging figures ---------------------------------------------------------------------------


def _paging_figures(page_text: str) -> str:
    match = re.search(r'<dl class="paging-figures">(.*?)</dl>', page_text, re.S)
    assert match, page_text
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _acknowledge_every_page(session, incident) -> None:
    for page in pages_of(session, incident=incident):
        if page.status != PageStatus.open:
            continue
        target = next(
            target
            for target in reversed(targets_of(session, page_ids=[page.id]))
            if target.status == TargetStatus.open
        )
        acknowledge(session, target=target, via=AnswerRoute.api)
    session.flush()


def test_the_roster_shows_the_paging_figures_of_the_api(
    client, session, shipped_playbooks, frozen_clock
):
    incident = declare_recall(session, shipped_playbooks)
    standing = pages_of(session, incident=incident)
    duty = sign_in(client, session)
    figures = _paging_figures(_room(client, incident.id))
    # The slowest of the seats paged (the technical and communications leads) has 15 minutes.
    assert f"0 of {len(standing)} acknowledged, waiting 0 min target 15 min" in figures
    assert f"Pages sent {len(standing)}" in figures and "Escalations 0" in figures

    frozen_clock.advance(timedelta(minutes=6))  # the commander had 5 minutes
    jobs.escalate_due_pages(session)
    session.flush()
    figures = _paging_figures(_room(client, incident.id))
    assert "waiting 6 min" in figures and "Escalations 1" in figures
    assert f"Pages sent {len(standing)}" in figures  # an escalation is not a new page

    frozen_clock.advance(timedelta(minutes=1))
    _acknowledge_every_page(session, incident)
    text = _room(client, incident.id)
    figures = _paging_figures(text)
    assert "complete in 7 min target 15 min" in figures
    assert re.search(r'<div class="whole-roster met">\s*<dt>Whole roster', text)
    api = client.get(f"/api/v1/incidents/{incident.id}/paging", headers=bearer(session, duty))
    assert api.json()["seconds_to_full_roster"] == 7 * 60


def test_a_roster_not_acknowledged_within_its_target_is_marked_late(
    client, session, shipped_playbooks, frozen_clock
):
    incident = declare_recall(session, shipped_playbooks)
    frozen_clock.advance(timedelta(minutes=14))
    sign_in(client, session, locale="zh-CN")
    assert re.search(r'<div class="whole-roster">\s*<dt>全员到位', _room(client, incident.id))
    frozen_clock.advance(timedelta(minutes=2))
    text = _room(client, incident.id)
    assert re.search(r'<div class="whole-roster late">\s*<dt>全员到位', text)
    assert "6 个席位中 0 个已确认,已等待 16 分钟" in _paging_figures(text)


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


def _section_shot(page, tmp_path, section, name):
    """One section of the room, at the size it is read, for a closer look than the page's."""
    path = tmp_path / f"{name}.png"
    page.locator(f"#room-{section}").screenshot(path=str(path))
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


def _curve_drawn(page) -> dict:
    """What the complaint curve's chart draws: each hour's label and bar, and where the
    declaration is marked."""
    return page.evaluate(
        """() => {
            const box = document.querySelector("#room-tickets [data-curve]");
            const option = echarts.getInstanceByDom(box).getOption();
            const series = option.series[0];
            return {
                labels: option.xAxis[0].data,
                counts: series.data,
                marked: series.markLine.data.map((mark) => mark.xAxis),
                runs: series.markLine.data.map((mark) => mark.label.align),
            };
        }"""
    )


@needs_chromium
def test_the_complaint_curve_is_drawn_and_counts_new_complaints_live_in_chromium(
    live_server, shipped_playbooks, frozen_clock, tmp_path
):
    with db.session_scope() as session:
        incident_id = _complaints_around_a_declaration(session, shipped_playbooks, frozen_clock).id
        readers = {
            locale: make_user(session, Role.duty_manager, password=PASSWORD, locale=locale).username
            for locale in ("en", "zh-CN")
        }
    room = f"{live_server}/incidents/{incident_id}"
    chart = "#room-tickets [data-curve] canvas"
    with chromium() as browser:
        page = _browser_login(
            browser, live_server, readers["en"], viewport={"width": 1280, "height": 900}
        )
        page.goto(room)
        page.wait_for_selector(chart)
        drawn = _curve_drawn(page)
        hours = dict(zip(drawn["labels"], drawn["counts"], strict=True))
        assert drawn["labels"][0] == "11-23 11:00" and drawn["labels"][-1] == "11-24 12:00"
        assert hours["11-24 09:00"] == 3 and hours["11-24 12:00"] == 1 and sum(hours.values()) == 4
        assert drawn["marked"] == ["11-24 11:00"]
        # Declared near the right edge, its label runs leftwards rather than off the chart.
        assert drawn["runs"] == ["right"]
        page.evaluate("window.curveWatched = true")
        _shot(page, tmp_path, "room-curve-en-1280")
        _section_shot(page, tmp_path, "roster", "room-roster-en-1280")

        with db.session_scope() as session:
            _complaint(session, shipped_playbooks, product_model="PX-200", batch="B7")
            _complaint(session, shipped_playbooks, product_model="PX-900", region="Hubei")
        page.wait_for_function(
            """() => {
                const box = document.querySelector("#room-tickets [data-curve]");
                const chart = box && echarts.getInstanceByDom(box);
                return chart && chart.getOption().series[0].data.at(-1) === 2;
            }"""
        )
        assert sum(_curve_drawn(page)["counts"]) == 5, "a complaint outside the scope counted"
        assert page.evaluate("window.curveWatched") is True, "the room was reloaded"
        assert "5 complaints since" in page.inner_text("#room-tickets")
        _section_shot(page, tmp_path, "tickets", "room-tickets-en-1280")

        for username, locale, width in (
            (readers["zh-CN"], "zh-CN", 1280),
            (readers["zh-CN"], "zh-CN", 390),
            (readers["en"], "en", 390),
        ):
            size = {"viewport": {"width": width, "height": 900 if width > 390 else 844}}
            reader = _browser_login(browser, live_server, username, **size)
            reader.goto(room)
            reader.wait_for_selector(chart)
            assert sum(_curve_drawn(reader)["counts"]) == 5
            scrolled = reader.evaluate("document.documentElement.scrollWidth")
            assert scrolled <= width, f"{locale} at {width} px scrolls sideways ({scrolled} px)"
            _shot(reader, tmp_path, f"room-curve-{locale}-{width}")
            for section in ("tickets", "roster"):
                _section_shot(reader, tmp_path, section, f"room-{section}-{locale}-{width}")


def _post_internal_update(incident_id: int, username: str, body: str) -> None:
    """A change made elsewhere (another person, another process), announced on commit."""
    with db.session_scope() as session:
        incident = session.get(Incident, incident_id)
        actor = auth_service.get_user_by_username(session, username=username)
        incident_service.post_update(
            session, incident=incident, update=UpdatePost(body=body), actor=actor
        )


@needs_chromium
def test_a_change_announced_while_the_stream_was_down_is_shown_once_it_is_back(world, live_server):
    incident_id = world.declare_recall()
    with db.session_scope() as session:
        reader = make_user(session, Role.duty_manager, password=PASSWORD).username
    live_path = f"/live/incidents/{incident_id}"
    connections: list[str] = []

    def first_stream_ends_at_once(route):
        connections.append(route.request.url)
        if len(connections) == 1:
            # The stream opens and drops; the browser is told to come back in two seconds.
            route.fulfill(
                status=200, headers={"Content-Type": "text/event-stream"}, body="retry: 2000\n\n"
            )
        else:
            route.continue_()

    with chromium() as browser:
        page = _browser_login(browser, live_server, reader, viewport={"width": 1280, "height": 900})
        page.route(f"**{live_path}", first_stream_ends_at_once)
        page.goto(f"{live_server}/incidents/{incident_id}")
        page.wait_for_function("() => document.querySelector('#room-timeline') !== null")
        _post_internal_update(incident_id, world.duty_manager, "Warehouse 3 sealed off")
        page.wait_for_function(
            "() => document.querySelector('#room-timeline').innerText"
            ".includes('Warehouse 3 sealed off')"
        )
        assert len(connections) >= 2, "the update arrived without the stream coming back"


@needs_chromium
def test_a_refresh_the_server_could_not_answer_is_tried_again(world, live_server):
    incident_id = world.declare_recall()
    with db.session_scope() as session:
        reader = make_user(session, Role.duty_manager, password=PASSWORD).username
    refused: set[str] = set()

    def each_section_busy_once(route):
        url = route.request.url
        if route.request.headers.get("hx-request") and url not in refused:
            refused.add(url)
            route.fulfill(status=503, body="busy")
        else:
            route.continue_()

    with chromium() as browser:
        page = _browser_login(browser, live_server, reader, viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server}/incidents/{incident_id}")
        page.wait_for_function("() => document.querySelector('#room-timeline') !== null")
        page.route(f"**/incidents/{incident_id}**", each_section_busy_once)
        _post_internal_update(incident_id, world.duty_manager, "Hotline staffed")
        page.wait_for_function(
            "() => document.querySelector('#room-timeline').innerText.includes('Hotline staffed')"
        )
        assert any("timeline" in url for url in refused), refused


@needs_chromium
def test_a_duty_manager_pages_a_declined_seat_again_in_chromium(world, live_server, tmp_path):
    incident_id = world.declare_recall()
    with db.session_scope() as session:
        incident = session.get_one(Incident, incident_id)
        [target] = targets_of(session, page_ids=[_commanders_page(session, incident).id])
        holder = auth_service.get_user(session, user_id=target.user_id).username
        decline(session, target=target, via=AnswerRoute.sms)  # escalates to the deputy
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        auth_service.update_user(session, user=duty, data=UserUpdate(locale="en"), actor_id=None)
        chinese = make_user(session, Role.duty_manager, password=PASSWORD, locale="zh-CN")

    with chromium() as browser:
        # How the seats' buttons read: at a desk and on a phone, in both languages.
        for username, locale in ((world.duty_manager, "en"), (chinese.username, "zh-CN")):
            for width, context in (
                (1280, {"viewport": {"width": 1280, "height": 900}}),
                (390, {"viewport": {"width": 390, "height": 844}, "is_mobile": True}),
            ):
                looking = _browser_login(browser, live_server, username, **context)
                looking.goto(f"{live_server}/incidents/{incident_id}")
                commander = looking.locator("#room-roster tr[data-role=commander]")
                expect(commander.locator(".page-again button")).to_have_text(
                    "Page again" if locale == "en" else "再次呼叫"
                )
                assert looking.evaluate("document.documentElement.scrollWidth") <= width
                _section_shot(looking, tmp_path, "roster", f"room-roster-duty-{locale}-{width}")
                looking.close()

        page = _browser_login(
            browser, live_server, world.duty_manager, viewport={"width": 1280, "height": 900}
        )
        page.goto(f"{live_server}/incidents/{incident_id}")
        seat = page.locator("#room-roster tr[data-role=commander][data-slot='0']")
        expect(seat).to_contain_text("escalated to level 1")
        seat.get_by_role("button", name="Page again").click()
        # The roster comes back with a new page at the holder, escalation started over.
        expect(seat).not_to_contain_text("escalated to level")
        expect(seat.locator(".badge.page-open")).to_be_visible()
        expect(page.locator("#room-timeline")).to_contain_text(
            f"Commander paged again from the start of its chain, beginning with {holder}"
        )
        _section_shot(page, tmp_path, "roster", "room-paged-again-en-1280")
    with db.session_scope() as session:
        again = _commanders_page(session, session.get_one(Incident, incident_id))
        assert (again.status, again.level, again.round) == (PageStatus.open, 0, 0)
        [target] = targets_of(session, page_ids=[again.id])
        assert target.user_id == auth_service.get_user_by_username(session, username=holder).id


# A customer's number, and how a reader who may not see it is shown it.
CUSTOMER_PHONE = "+8613912345678"
CUSTOMER_PHONE_MASKED = "+86 139****5678"


def _digits(number: str) -> str:
    return number.removeprefix("+86")


@needs_chromium
def test_a_viewer_reads_the_room_and_a_ticket_without_actions_or_numbers_in_chromium(
    world, live_server, tmp_path
):
    incident_id = world.declare_recall()
    with db.session_scope() as session:
        incident = session.get_one(Incident, incident_id)
        ticket = make_ticket(
            session,
            registry=world.registry,
            description="充电器冒烟，请回电 13912345678",
            product_model="PX-200",
            batch="B7",
            phone=CUSTOMER_PHONE,
        )
        assert ticket.incident_id == incident_id
        ticket_id = ticket.id
        duty = world.user(session, world.duty_manager)
        incident_service.post_update(
            session,
            incident=incident,
            update=UpdatePost(body="客户 13912345678 已回电 / customer called back"),
            actor=duty,
        )
        # Every full number the room knows: the customer's and each seat holder's.
        numbers = [CUSTOMER_PHONE] + [
            auth_service.get_user(session, user_id=seat.user_id).phone
            for seat in incident_service.current_roster(session, incident=incident)
            if seat.user_id is not None
        ]
        assert all(numbers)
        viewers = {
            locale: make_user(session, Role.viewer, password=PASSWORD, locale=locale).username
            for locale in ("zh-CN", "en")
        }
    sizes = {
        1280: {"viewport": {"width": 1280, "height": 900}},
        390: {"viewport": {"width": 390, "height": 844}, "is_mobile": True},
    }

    def no_action_and_no_number(page) -> None:
        main = page.locator("main")
        expect(main.locator("form")).to_have_count(0)
        expect(main.locator("button, input, select, textarea")).to_have_count(0)
        shown = page.content() + main.inner_text()
        assert "tel:" not in shown
        for number in numbers:
            assert number not in shown and _digits(number) not in shown, number

    with chromium() as browser:
        for locale, username in viewers.items():
            for width, context in sizes.items():
                page = _browser_login(browser, live_server, username, locale=locale, **context)
                page.goto(f"{live_server}/incidents/{incident_id}")
                page.wait_for_selector("#room-tickets [data-curve] canvas")
                expect(page.locator("#room-roster tbody tr")).to_have_count(len(numbers) - 1)
                no_action_and_no_number(page)
                expect(page.locator("#room-tickets")).to_contain_text("139****5678")
                _shot(page, tmp_path, f"viewer-room-{locale}-{width}")

                page.goto(f"{live_server}/tickets/{ticket_id}")
                expect(page.locator("main")).to_contain_text(CUSTOMER_PHONE_MASKED)
                no_action_and_no_number(page)
                page.close()
