"""Timeline entries in the reader's language (web.event_text): every kind the code base writes
has a sentence in both catalogs, made from the entry's kind and data; people's own words are
shown as written; an entry no sentence fits shows its stored summary. Notices are named in
the reader's language; the ticket page shows its customer first and its incident's number."""

import ast
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import col, select

from incident_cmd import clock, db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    InboundMessage,
)
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.schemas import Scope, UpdatePost
from incident_cmd.tickets import flows as ticket_flows
from incident_cmd.tickets.jobs import ALERTED
from incident_cmd.tickets.models import SignalStatus
from incident_cmd.tickets.schemas import ReviewNoteKind
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import translations
from incident_cmd.web.event_text import AS_WRITTEN, SENTENCES, Reading, event_text
from incident_cmd.web.labels import NOTICE_NAMES
from tests.factories import (
    make_customer,
    make_incident,
    make_ticket,
    make_user,
    shanghai_customers,
)
from tests.plugins.web import (
    PASSWORD,
    SHOTS,
    browser_login,
    chromium,
    needs_chromium,
    shot,
    sign_in,
)

SOURCE = Path(__file__).resolve().parents[2] / "src" / "incident_cmd"
KIND = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
KIND_PREFIX = re.compile(r"^[a-z_]+\.$")
# Kinds made by an f-string, and the values its placeholder takes.
DYNAMIC_KINDS = {
    "campaign.": [status for status in CampaignStatus if status != CampaignStatus.draft],
    "signal.": [status for status in SignalStatus if status != SignalStatus.open],
    "sla.": [stage.replace(" ", "_") for stage in ALERTED],
    "review.": list(ReviewNoteKind),
}
# Dotted names passed as ``kind`` that are not timeline entries.
NOT_ENTRIES = {"live.resync"}


def _written_kinds() -> set[str]:
    """Every kind the code base passes to timeline.append or one of its wrappers (a function
    named *record*), as a keyword ``kind`` or a positional argument."""
    kinds: set[str] = set()
    unknown_patterns: list[str] = []
    for path in SOURCE.rglob("*.py"):
        if "web" in path.relative_to(SOURCE).parts:
            continue
        module = ast.parse(path.read_text(encoding="utf-8"))
        # Kinds named once at the top of their module (timeline.STARRED).
        constants = {
            target.id: statement.value
            for statement in module.body
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
            for target in statement.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else None
            callee = callee or (node.func.id if isinstance(node.func, ast.Name) else "")
            given = [keyword.value for keyword in node.keywords if keyword.arg == "kind"]
            if "record" in callee or callee == "append":
                given += node.args
            # kind="message.sent" if sent else "message.failed"
            given += [
                branch
                for value in given
                if isinstance(value, ast.IfExp)
                for branch in (value.body, value.orelse)
            ]
            for value in given:
                if isinstance(value, ast.Name):
                    value = constants.get(value.id, value)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    if KIND.match(value.value):
                        kinds.add(value.value)
                elif isinstance(value, ast.JoinedStr):
                    head = value.values[0]
                    prefix = head.value if isinstance(head, ast.Constant) else ""
                    if not KIND_PREFIX.match(str(prefix)):
                        continue  # a summary, not a kind
                    if prefix not in DYNAMIC_KINDS:
                        unknown_patterns.append(f"{path.name}:{node.lineno} {prefix!r}")
                        continue
                    kinds |= {prefix + str(part) for part in DYNAMIC_KINDS[prefix]}
    assert unknown_patterns == [], (
        f"kinds made by an f-string the test cannot spell out: {unknown_patterns}"
    )
    return kinds - NOT_ENTRIES


def _chinese(event: TimelineEvent, playbook=None) -> str:
    return event_text(event, Reading(Locale.zh_CN, "Asia/Shanghai", playbook))


def _english(event: TimelineEvent, playbook=None) -> str:
    return event_text(event, Reading(Locale.en, "Asia/Shanghai", playbook))


def _entry(kind: str, summary: str = "stored summary", **data) -> TimelineEvent:
    return TimelineEvent(
        subject_type="incident",
        subject_id=1,
        at=datetime(2026, 12, 3, 8, tzinfo=UTC),
        kind=kind,
        summary=summary,
        data=data,
    )


# --- every kind has its words -------------------------------------------------------------


def test_the_search_finds_the_kinds_written_through_every_wrapper():
    kinds = _written_kinds()
    # incidents' _record (positional), paging's record (keyword), an f-string, the wrappers'
    # own module (timeline stars) and a plain timeline.append.
    assert {
        "update.internal",
        "page.sent",
        "campaign.completed",
        "campaign.paused",
        "sla.breached_twice",
        "timeline.starred",
        "ticket.customer_message",
        "sms.opted_out",
        "message.failed",
    } <= kinds
    assert "live.resync" not in kinds and len(kinds) > 60


def test_every_kind_written_has_a_sentence_or_is_shown_as_written():
    missing = sorted(
        kind for kind in _written_kinds() if kind not in SENTENCES and kind not in AS_WRITTEN
    )
    assert missing == [], f"give these kinds a sentence in web/event_text.py: {missing}"
    assert not AS_WRITTEN & set(SENTENCES)
    unwritten = sorted(set(SENTENCES) - _written_kinds())
    assert unwritten == [], f"sentences for kinds nothing writes any more: {unwritten}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_sentence_is_in_the_catalog_with_its_placeholders(locale):
    catalog = translations.translations(locale)
    for kind, sentences in SENTENCES.items():
        assert sentences, kind
        for sentence in sentences:
            said = catalog.gettext(sentence.text)
            assert sorted(re.findall(r"%\((\w+)\)s", said)) == sorted(sentence.placeholders())
            if locale == Locale.zh_CN:
                assert said != sentence.text and re.search(r"[\u4e00-\u9fff]", said), sentence.text


# --- what a reader sees -----------------------------------------------------------------------


def test_a_finished_notice_reads_in_chinese_with_its_figures():
    entry = _entry(
        "campaign.completed",
        "campaign 'INC-2026-0001 recall_sms': completed: 297 sent or delivered, 2 failed, 1 suppressed",
        campaign_id=4,
        notice="INC-2026-0001 recall_sms",
        plan_key="recall_sms",
        sent=200,
        delivered=97,
        failed=1,
        undelivered=1,
        suppressed=1,
    )
    assert (
        _chinese(entry)
        == "通知发送完毕：召回短信通知。已发送或送达 297 条，失败 2 条，因退订未发 1 条"
    )
    assert _english(entry) == (
        "Notice completed: Recall SMS notice. 297 sent or delivered, 2 failed, 1 opted out"
    )


def test_people_s_words_are_shown_as_written_in_any_language():
    body = "B7 批次已全部下架 — warehouse 3 sealed, call 400-800-1234"
    entry = _entry("update.internal", body)
    assert _chinese(entry) == _english(entry) == body


def test_an_entry_no_sentence_fits_shows_its_stored_summary():
    assert _chinese(_entry("mystery.kind", "something new happened")) == "something new happened"
    # Written before its data carried the notice's name: said as it was stored.
    old = _entry("campaign.completed", "completed: 3 sent or delivered", sent=3, delivered=0)
    assert _chinese(old) == "completed: 3 sent or delivered"


def test_the_sentence_that_fits_the_data_is_chosen():
    assert _chinese(_entry("incident.status", **{"from": "declared", "to": "active"})) == (
        "状态：已启动 → 处置中"
    )
    noted = _entry("incident.status", **{"from": "active", "to": "resolved", "note": "已召回"})
    assert _english(noted) == "Status Responding → Resolved: 已召回"
    assert _chinese(_entry("ticket.assigned", **{"from": None, "to": "agent.sun"})) == (
        "分派给 agent.sun"
    )
    assert _chinese(_entry("ticket.assigned", **{"from": "a.wu", "to": "a.sun"})) == (
        "由 a.wu 改派给 a.sun"
    )


def test_a_declared_recall_reads_in_chinese_with_the_playbook_s_names(session, shipped_playbooks):
    incident = make_incident(session, registry=shipped_playbooks)
    playbook = incident_service.playbook_of(session, incident)
    entries = timeline.events_for(session, subject_type="incident", subject_id=incident.id)
    said = {entry.kind: _chinese(entry, playbook) for entry in entries}
    assert said["incident.declared"].startswith(f"宣布事件 {incident.number}，预案「产品质量召回」")
    assert said["tasks.created"] == f"已按预案创建 {len(playbook.tasks)} 项任务"
    assert said["roster.assigned"].endswith("担任总指挥") or "担任" in said["roster.assigned"]
    assert said["campaign.created"].startswith("已起草通知：")
    untranslated = [text for text in said.values() if not re.search(r"[\u4e00-\u9fff]", text)]
    assert untranslated == []


# --- the pages ------------------------------------------------------------------------------


def _finished_recall(session, shipped_playbooks):
    """A recall whose SMS notice went to three customers: two delivered, one failed."""
    for _ in range(3):
        make_customer(session, region="Guangdong")
    incident = make_incident(
        session,
        registry=shipped_playbooks,
        scope=Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"]),
    )
    campaign = session.exec(
        select(Campaign).where(
            Campaign.incident_id == incident.id, Campaign.plan_key == "recall_sms"
        )
    ).one()
    campaign.send_at = None
    campaign_service.approve(session, campaign=campaign, actor=make_user(session, Role.comms))
    campaign_service.start_due_campaigns(session)
    deliveries = session.exec(
        select(Delivery.id).where(Delivery.campaign_id == campaign.id).order_by(col(Delivery.id))
    ).all()
    assert len(deliveries) == 3
    session.exec(
        update(Delivery)
        .where(col(Delivery.id).in_(deliveries[:2]))
        .values(status=DeliveryStatus.delivered)
    )
    session.exec(
        update(Delivery)
        .where(col(Delivery.id) == deliveries[2])
        .values(status=DeliveryStatus.failed)
    )
    assert campaign_service.finish_campaigns(session) >= 1
    return incident, campaign


def test_the_room_tells_a_chinese_reader_the_notice_s_figures(client, session, shipped_playbooks):
    incident, campaign = _finished_recall(session, shipped_playbooks)
    incident_service.post_update(
        session,
        incident=incident,
        update=UpdatePost(body="仓库 3 已封存 (as written)"),
        actor=make_user(session, Role.duty_manager),
    )
    sign_in(client, session, Role.duty_manager, locale=Locale.zh_CN)
    page = client.get(f"/incidents/{incident.id}").text
    timeline_part = page[page.index('id="room-timeline"') :]
    assert (
        "通知发送完毕：召回短信通知。已发送或送达 2 条，失败 1 条，因退订未发 0 条" in timeline_part
    )
    assert "仓库 3 已封存 (as written)" in timeline_part
    assert "completed: 2 sent or delivered" not in page
    assert f'<a href="/campaigns/{campaign.id}">召回短信通知</a>' in page
    assert "recall_sms</a>" not in page


def test_an_english_reader_reads_the_same_room_in_english(client, session, shipped_playbooks):
    incident, campaign = _finished_recall(session, shipped_playbooks)
    sign_in(client, session, Role.duty_manager, locale=Locale.en)
    page = client.get(f"/incidents/{incident.id}").text
    assert "Notice completed: Recall SMS notice. 2 sent or delivered, 1 failed, 0 opted out" in page
    assert f'<a href="/campaigns/{campaign.id}">Recall SMS notice</a>' in page
    campaign_page = client.get(f"/campaigns/{campaign.id}").text
    assert "<h1>Recall SMS notice" in campaign_page


def test_every_notice_the_playbooks_draft_has_a_name(shipped_playbooks):
    plans = {
        plan.key for loaded in shipped_playbooks.all() for plan in loaded.playbook.notifications
    }
    assert plans and plans <= set(NOTICE_NAMES)


def test_a_notice_made_by_hand_keeps_its_given_name(client, session, shipped_playbooks):
    _, campaign = _finished_recall(session, shipped_playbooks)
    campaign.plan_key, campaign.name = None, "给 B7 批次客户的补充说明"
    session.add(campaign)
    sign_in(client, session, Role.duty_manager, locale=Locale.zh_CN)
    assert "<h1>给 B7 批次客户的补充说明" in client.get(f"/campaigns/{campaign.id}").text


def test_the_ticket_page_in_chinese(client, session, shipped_playbooks):
    incident = make_incident(session, registry=shipped_playbooks)
    ticket = make_ticket(
        session,
        registry=shipped_playbooks,
        description="PX-200 充电时冒烟",
        phone="+8613800138000",
        region="Guangdong",
        product_model="PX-200",
        batch="B7",
    )
    assert ticket.incident_id == incident.id
    sign_in(client, session, Role.duty_manager, locale=Locale.zh_CN)
    page = client.get(f"/tickets/{ticket.id}").text
    # The customer's number comes before the complaint and the actions (a phone reads down).
    assert page.index("+8613800138000") < page.index('class="ticket-main"') < page.index("操作")
    assert f'<a href="/incidents/{incident.id}">{incident.number}</a>' in page
    assert f">#{incident.id}<" not in page
    assert "<dd>广东</dd>" in page
    # A customer's compensation names no staff-penalty approval route (001 6-4).
    assert "审批" not in page[: page.index('id="history"')]
    history = page[page.index('id="history"') :]
    assert "经电话受理：产品质量，紧急，涉及安全" in history
    assert f"已关联事件 {incident.number}" in history
    assert "taken in by" not in history and "product_quality" not in history


def test_a_viewer_reads_a_customer_s_message_with_the_number_masked(
    client, session, shipped_playbooks
):
    ticket = make_ticket(session, registry=shipped_playbooks, phone="+8613800138123")
    inbound = InboundMessage(
        provider_id="SM-event-text",
        from_address="+8613800138123",
        to_address="+8610000000",
        body="请打 13800138123 找我",
        kind="message",
        received_at=clock.now(),
    )
    session.add(inbound)
    session.flush()
    ticket_flows.from_sms(session, inbound=inbound, registry=shipped_playbooks)
    sign_in(client, session, Role.viewer, locale=Locale.zh_CN)
    history = client.get(f"/tickets/{ticket.id}").text.split('id="history"')[1]
    assert "客户短信：请打" in history
    assert "13800138123" not in history


# --- in Chromium ----------------------------------------------------------------------------


def _seen_world(world) -> tuple[int, int, str]:
    """A recall whose SMS notice finished (three customers: two delivered, one failed), an
    internal update, and a complaint linked to it; its duty manager's username."""
    world.import_customers(shanghai_customers(3))
    incident_id = world.declare_recall()
    campaign_id = world.campaign_for(incident_id, "recall_sms")
    world.approve_and_start(campaign_id)
    with db.session_scope() as session:
        ids = session.exec(
            select(Delivery.id)
            .where(Delivery.campaign_id == campaign_id)
            .order_by(col(Delivery.id))
        ).all()
        session.exec(
            update(Delivery).where(col(Delivery.id).in_(ids[:2])).values(status="delivered")
        )
        session.exec(
            update(Delivery)
            .where(col(Delivery.id).in_(ids[2:]))
            .values(status=DeliveryStatus.failed)
        )
    world.finish()
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        incident = incident_service.get_incident(session, incident_id=incident_id)
        incident_service.post_update(
            session,
            incident=incident,
            update=UpdatePost(body="B7 批次已全部下架，仓库 3 已封存"),
            actor=duty,
        )
        ticket = make_ticket(
            session,
            registry=world.registry,
            description="充电时电池发烫，有焦味",
            phone="+8613800138000",
            customer_name="王女士",
            region="Guangdong",
            product_model="PX-200",
            batch="B7",
        )
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        return incident_id, ticket.id, duty.username


def _element_shot(locator, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    locator.screenshot(path=str(path))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


@needs_chromium
def test_the_timeline_and_the_ticket_read_in_each_language_at_each_width(
    world, live_server, tmp_path
):
    incident_id, ticket_id, duty = _seen_world(world)
    expected = {
        "zh-CN": ("通知发送完毕：召回短信通知。已发送或送达 2 条", "经电话受理：", "操作"),
        "en": (
            "Notice completed: Recall SMS notice. 2 sent or delivered",
            "Taken in by Phone",
            "Actions",
        ),
    }
    with chromium() as browser:
        for locale, (finished, taken_in, actions) in expected.items():
            with db.session_scope() as session:
                person = auth_service.get_user_by_username(session, username=duty)
                person.locale = Locale(locale)
                session.add(person)
            for width in (1280, 390):
                page = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
                browser_login(page, live_server, duty)
                page.goto(f"{live_server}/incidents/{incident_id}")
                entries = page.locator("#room-timeline")
                expect(entries).to_contain_text(finished)
                expect(entries).to_contain_text("B7 批次已全部下架，仓库 3 已封存")
                _element_shot(entries, tmp_path, f"words-timeline-{locale}-{width}")
                page.goto(f"{live_server}/tickets/{ticket_id}")
                expect(page.locator("#history")).to_contain_text(taken_in)
                phone = page.locator("#customer dd", has_text="+8613800138000").first
                heading = page.locator("h2", has_text=actions)
                # The customer's number is on the first screen, above the actions.
                phone_box, heading_box = phone.bounding_box(), heading.bounding_box()
                assert phone_box and heading_box and phone_box["y"] < heading_box["y"]
                if width == 390:
                    assert phone_box["y"] < 900
                shot(page, tmp_path, f"words-ticket-{locale}-{width}")
                page.close()
