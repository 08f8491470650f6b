"""Starring timeline entries in the incident room: the toggle for whoever may post an internal
update, the starred filter, refusals with nothing changed, both languages, and in Chromium."""

import re
import shutil

import pytest
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_incident, make_user
from tests.plugins.web import (
    ORIGIN,
    PASSWORD,
    SHOTS,
    browser_login,
    chromium,
    login,
    needs_chromium,
    shot,
)


@pytest.fixture
def recall(session, shipped_playbooks):
    duty = make_user(session, Role.duty_manager, password=PASSWORD, locale="en")
    incident = make_incident(
        session, registry=shipped_playbooks, title="PX-200 battery overheating", actor=duty
    )
    return incident, duty


def _entry(session, incident, kind) -> TimelineEvent:
    return session.exec(
        select(TimelineEvent)
        .where(
            TimelineEvent.subject_type == "incident",
            TimelineEvent.subject_id == incident.id,
            TimelineEvent.kind == kind,
        )
        .order_by(TimelineEvent.id)
    ).first()


def _kinds(session, incident) -> list[str]:
    return list(
        session.exec(
            select(TimelineEvent.kind).where(
                TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == incident.id
            )
        )
    )


def _sign_in(client, user):
    client.cookies.clear()
    assert login(client, user.username).status_code == 303


def _room(client, incident, **params) -> str:
    page = client.get(f"/incidents/{incident.id}", params=params)
    assert page.status_code == 200, page.text
    return page.text


def _toggle(client, incident, event_id, verb, shown=""):
    token = re.search(r'name="csrf_token" value="([^"]+)"', _room(client, incident))
    assert token
    return client.post(
        f"/incidents/{incident.id}/timeline/{event_id}/{verb}",
        data={"csrf_token": token.group(1), "timeline": shown},
        headers=ORIGIN,
        follow_redirects=False,
    )


def _entry_html(text: str, event_id: int) -> str:
    match = re.search(rf'<li[^>]*id="entry-{event_id}"[^>]*>(.*?)</li>', text, re.S)
    assert match, text
    return match.group(0)


def test_a_responder_stars_an_entry_and_finds_it_under_starred(client, session, recall):
    incident, _ = recall
    declared = _entry(session, incident, "incident.declared")
    responder = make_user(session, Role.responder, password=PASSWORD, locale="en")
    _sign_in(client, responder)
    entry = _entry_html(_room(client, incident), declared.id)
    assert f'action="/incidents/{incident.id}/timeline/{declared.id}/star"' in entry
    assert 'aria-pressed="false"' in entry and "Star" in entry
    assert "No entry is starred for the review yet." in _room(client, incident, timeline="starred")

    starred = _toggle(client, incident, declared.id, "star", shown="starred")
    assert starred.status_code == 303
    assert starred.headers["location"] == f"/incidents/{incident.id}?timeline=starred#room-timeline"
    assert timeline.star_of(session, event_id=declared.id).starred_by == responder.id
    assert _kinds(session, incident).count("timeline.starred") == 1

    text = _room(client, incident, timeline="starred")
    assert re.findall(r'data-kind="([a-z_.]+)"', text) == ["incident.declared"]
    assert f"Starred by {responder.username}" in text
    entry = _entry_html(text, declared.id)
    assert f'action="/incidents/{incident.id}/timeline/{declared.id}/unstar"' in entry
    assert 'aria-pressed="true"' in entry and "entry-starred" in entry
    assert 'aria-current="true"><span aria-hidden="true">★ </span>Starred for the review' in text
    fragment = client.get(f"/incidents/{incident.id}/fragments/timeline?timeline=starred")
    assert f'hx-get="/incidents/{incident.id}/fragments/timeline?timeline=starred"' in fragment.text
    # Everything: the star's own entry is there too, and has no star of its own to give.
    everything = _room(client, incident)
    star_entry = _entry(session, incident, "timeline.starred")
    assert "starred for the review" in _entry_html(everything, star_entry.id)
    assert "/star" not in _entry_html(everything, star_entry.id)

    unstarred = _toggle(client, incident, declared.id, "unstar")
    assert unstarred.headers["location"] == f"/incidents/{incident.id}#room-timeline"
    assert timeline.star_of(session, event_id=declared.id) is None
    assert "No entry is starred for the review yet." in _room(client, incident, timeline="starred")
    assert _kinds(session, incident).count("timeline.unstarred") == 1


def test_viewers_and_agents_see_the_star_but_no_toggle(client, session, recall):
    incident, duty = recall
    declared = _entry(session, incident, "incident.declared")
    _sign_in(client, duty)
    assert _toggle(client, incident, declared.id, "star").status_code == 303
    for role in (Role.viewer, Role.agent):
        reader = make_user(session, role, password=PASSWORD, locale="en")
        _sign_in(client, reader)
        text = _room(client, incident, timeline="starred")
        assert f"Starred by {duty.username}" in text
        assert "star-toggle" not in text and "/unstar" not in text
        refused = _toggle(client, incident, declared.id, "unstar")
        assert refused.status_code == 403 and "may not do this" in refused.text
        assert timeline.star_of(session, event_id=declared.id) is not None
    assert _kinds(session, incident).count("timeline.unstarred") == 0


def test_another_incidents_entry_is_refused_with_nothing_changed(
    client, session, recall, shipped_playbooks
):
    incident, duty = recall
    other = make_incident(session, registry=shipped_playbooks, actor=duty)
    foreign = _entry(session, other, "incident.declared")
    _sign_in(client, duty)
    refused = _toggle(client, incident, foreign.id, "star")
    assert refused.status_code == 404
    assert timeline.star_of(session, event_id=foreign.id) is None
    assert "timeline.starred" not in _kinds(session, incident) + _kinds(session, other)
    assert _toggle(client, incident, foreign.id, "shine").status_code == 422
    # A star's own entry has no toggle; posting one anyway is refused atop the room.
    declared = _entry(session, incident, "incident.declared")
    _toggle(client, incident, declared.id, "star")
    star_entry = _entry(session, incident, "timeline.starred")
    refused = _toggle(client, incident, star_entry.id, "star")
    assert refused.status_code == 400
    assert re.search(r'<p class="error" role="alert">[^<]*cannot be starred', refused.text)
    assert _kinds(session, incident).count("timeline.starred") == 1


def test_stars_speak_chinese(client, session, recall):
    incident, duty = recall
    _sign_in(client, duty)
    _toggle(client, incident, _entry(session, incident, "incident.declared").id, "star")
    chinese = make_user(session, Role.duty_manager, password=PASSWORD, locale="zh-CN")
    _sign_in(client, chinese)
    text = _room(client, incident, timeline="starred")
    for words in (
        "复盘标记",
        f"{duty.username} 已标记",
        "标记此条，供事后复盘查阅",
        ">标记</button>",
    ):
        assert words in text, words
    assert "Starred" not in text and "No entry is starred" not in text
    _toggle(client, incident, _entry(session, incident, "incident.declared").id, "unstar")
    assert "还没有标记供复盘的记录。" in _room(client, incident, timeline="starred")


# --- in Chromium ---------------------------------------------------------------------------


@needs_chromium
def test_starring_and_the_starred_filter_in_chromium(world, live_server, tmp_path):
    incident_id = world.declare_recall()
    with db.session_scope() as session:
        for username, locale in ((world.duty_manager, "en"), (world.comms, "zh-CN")):
            person = world.user(session, username)
            auth_service.set_password(session, user=person, password=PASSWORD, actor_id=None)
            auth_service.update_user(
                session, user=person, data=UserUpdate(locale=locale), actor_id=None
            )
        declared = session.exec(
            select(TimelineEvent.id).where(
                TimelineEvent.subject_id == incident_id, TimelineEvent.kind == "incident.declared"
            )
        ).one()
    room = f"{live_server}/incidents/{incident_id}"
    entry = f"#entry-{declared}"
    for username, locale, viewport, name in (
        (world.duty_manager, "en-US", {"width": 1280, "height": 900}, "stars-en-1280"),
        (world.comms, "zh-CN", {"width": 390, "height": 844}, "stars-zh-CN-390"),
    ):
        with chromium() as browser:
            page = browser.new_page(locale=locale, viewport=viewport)
            browser_login(page, live_server, username)
            page.goto(room)
            page.click(f"{entry} .star-toggle")
            page.wait_for_selector(f'{entry} .star-toggle[aria-pressed="true"]')
            page.click("#room-timeline .filter-starred")
            page.wait_for_selector('#room-timeline .filter-starred[aria-current="true"]')
            kinds = page.eval_on_selector_all(
                "#room-timeline li.entry", "items => items.map(item => item.dataset.kind)"
            )
            assert kinds == ["incident.declared"]
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{name} scrolls sideways ({width}px)"
            shot(page, tmp_path, name)
            section = tmp_path / f"{name}-timeline.png"
            page.locator("#room-timeline").screenshot(path=str(section))
            shutil.copy(section, SHOTS / section.name)
            # Taken back in the starred view: the view empties and stays on starred.
            page.click(f"{entry} .star-toggle")
            page.wait_for_selector("#room-timeline p.empty")
            assert "timeline=starred" in page.get_attribute("#room-timeline", "hx-get")
