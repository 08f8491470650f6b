"""Answering a page: the signed link, an SMS reply, the voice keypad and the API."""

from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlmodel import select

from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.i18n import Locale
from incident_cmd.incidents.models import Incident
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.paging import links
from incident_cmd.paging.models import PageStatus, PageTarget, TargetStatus
from tests.factories import (
    SERVICE_DESK,
    bearer,
    make_duty_managers,
    make_playbook_teams,
    make_user,
    rotation_members,
)
from tests.plugins.paging import Paging
from tests.plugins.twilio import answer_to, file_inbox, signed

TOKEN = "test-auth-token"
PUBLIC = "https://incident.example.com"


@pytest.fixture
def webhook_settings(monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", PUBLIC)
    get_settings.cache_clear()


@pytest.fixture
def duty_manager(session, shipped_playbooks) -> dict[str, str]:
    """Headers of a duty manager, with the teams a recall pages and escalates to made."""
    make_playbook_teams(session, shipped_playbooks.get("product-recall").playbook)
    make_duty_managers(session)
    return bearer(session, make_user(session, Role.duty_manager))


@pytest.fixture
def declared(client, session, duty_manager, webhook_settings) -> Paging:
    response = client.post(
        "/api/v1/incidents",
        json={
            "playbook": "product-recall",
            "title": "PX-200 overheating",
            "severity": "sev1",
            "scope": {"batches": ["B7"]},
        },
        headers=duty_manager,
    )
    assert response.status_code == 201
    return Paging(session, session.get(Incident, response.json()["id"]))


def _link_path(target) -> str:
    return "/page/" + links.ack_token(target)


def test_the_link_shows_the_page_and_only_the_button_answers(client, declared):
    holder = declared.holder("commander")
    target = declared.target_of("commander", holder)
    shown = client.get(_link_path(target))
    assert shown.status_code == 200
    assert "Acknowledge" in shown.text and "INC-" in shown.text
    declared.session.refresh(target)
    assert target.status == TargetStatus.open  # a link preview must not acknowledge
    answered = client.post(_link_path(target), data={"action": "acknowledge"})
    assert answered.status_code == 200
    declared.session.refresh(target)
    assert (target.status, target.answered_via) == (TargetStatus.acknowledged, "link")
    assert declared.page("commander").status == PageStatus.acknowledged
    again = client.post(_link_path(target), data={"action": "acknowledge"})
    assert again.status_code == 200 and "您已确认" in again.text


def test_an_acknowledged_link_page_leads_into_the_incident_room_in_the_persons_language(
    client, declared
):
    holder = declared.holder("commander")
    target = declared.target_of("commander", holder)
    # Not the default language, so the page can only lead with it by asking the person.
    person = declared.session.exec(select(User).where(User.username == holder)).one()
    person.locale = Locale.en
    declared.session.add(person)
    declared.session.commit()
    room = f'href="/incidents/{declared.incident.id}"'
    assert room not in client.get(_link_path(target)).text
    answered = client.post(_link_path(target), data={"action": "acknowledge"})
    assert room in answered.text
    first, other = "Open the incident room", "进入事件指挥室"
    assert answered.text.index(first) < answered.text.index(other)


def test_forged_link_is_refused_and_changes_nothing(client, declared):
    target = declared.target_of("commander", declared.holder("commander"))
    forged = URLSafeSerializer("not-our-secret", salt="page-ack").dumps(
        {"t": target.id, "e": 4102444800}
    )
    tampered = links.ack_token(target)[:-3] + "abc"
    for token in (forged, tampered, "garbage"):
        response = client.post(f"/page/{token}", data={"action": "acknowledge"})
        assert response.status_code == 403, token
        assert "not valid" in response.json()["detail"]
    declared.session.refresh(target)
    assert target.status == TargetStatus.open


def test_expired_link_is_refused(client, declared, frozen_clock):
    target = declared.target_of("commander", declared.holder("commander"))
    path = _link_path(target)
    frozen_clock.advance(timedelta(minutes=get_settings().page_link_valid_minutes, seconds=1))
    response = client.post(path, data={"action": "acknowledge"})
    assert response.status_code == 403 and "expired" in response.json()["detail"]
    declared.session.refresh(target)
    assert target.status == TargetStatus.open


def test_a_link_cannot_answer_another_page_for_the_same_person(client, declared, duty_manager):
    holder = declared.holder("cs_lead")
    other = next(
        name for name in rotation_members(declared.session, team_key=SERVICE_DESK) if name != holder
    )
    old_target = declared.target_of("cs_lead", holder)
    old_link = _link_path(old_target)
    incident_id = declared.incident.id
    for user in (other, holder):  # hand over and back: a new page for the holder
        response = client.post(
            f"/api/v1/incidents/{incident_id}/roster",
            json={"role": "cs_lead", "user": user},
            headers=duty_manager,
        )
        assert response.status_code == 200
    new_page = declared.page("cs_lead")
    assert new_page.status == PageStatus.open
    response = client.post(old_link, data={"action": "acknowledge"})
    assert response.status_code == 200 and "此呼叫已结束" in response.text
    declared.session.refresh(new_page)
    assert new_page.status == PageStatus.open


def _inbound(client, phone: str, body: str, sid: str, sign: bool = True):
    params = {"MessageSid": sid, "From": phone, "To": "+15005550006", "Body": body}
    url = f"{PUBLIC}/webhooks/twilio/inbound"
    return client.post(
        "/webhooks/twilio/inbound", data=params, headers=signed(url, params) if sign else {}
    )


def _answered(client, declared: Paging, phone: str, body: str, sid: str) -> str | None:
    """The SMS kept by the webhook, filed by the inbox sweep: what it was answered with."""
    assert _inbound(client, phone, body, sid).status_code == 200
    file_inbox(declared.session, client.app)
    return answer_to(declared.session, sid)


def test_sms_reply_acknowledges_through_the_signed_webhook(client, declared):
    holder = declared.user(declared.holder("commander"))
    refused = _inbound(client, holder.phone, "ACK", "SM1", sign=False)
    assert refused.status_code == 403
    assert declared.page("commander").status == PageStatus.open
    response = _inbound(client, holder.phone, "ack", "SM2")
    # The webhook only keeps the message: the page is answered when the worker files it.
    assert response.status_code == 200 and "<Message>" not in response.text
    assert declared.page("commander").status == PageStatus.open
    file_inbox(declared.session, client.app)
    assert "已确认" in (answer_to(declared.session, "SM2") or "")
    target = declared.target_of("commander", holder.username)
    declared.session.refresh(target)
    assert target.answered_via == "sms"


def test_sms_reply_with_a_code_picks_that_page(client, declared):
    # The same person may hold two seats; the code says which page the answer is for.
    holder = declared.holder("commander")
    target = declared.target_of("commander", holder)
    phone = declared.user(holder).phone
    _answered(client, declared, phone, target.code, "SM3")
    declared.session.refresh(target)
    assert target.status == TargetStatus.acknowledged
    assert "000000" in (_answered(client, declared, phone, "ACK 000000", "SM4") or "")


def test_sms_reply_2_declines_and_escalates(client, declared):
    holder = declared.holder("commander")
    _answered(client, declared, declared.user(holder).phone, "2", "SM5")
    assert declared.reached("commander")[-1][1] == "acting"  # the deputy acts


def _voice(client, message_id: int, digits: str, sign: bool = True):
    params = {"CallSid": "CA1", "Digits": digits}
    path = f"/webhooks/twilio/page-voice?m={message_id}"
    headers = signed(PUBLIC + path, params) if sign else {}
    return client.post(path, data=params, headers=headers)


def _voice_message(declared: Paging, frozen_clock) -> DirectMessage:
    frozen_clock.advance(timedelta(minutes=2))
    declared.sweep()
    return declared.session.exec(
        select(DirectMessage).where(DirectMessage.channel == "voice").order_by(DirectMessage.id)
    ).first()


def test_voice_keypress_1_acknowledges_through_the_signed_webhook(client, declared, frozen_clock):
    message = _voice_message(declared, frozen_clock)
    assert _voice(client, message.id, "1", sign=False).status_code == 403
    target = declared.session.get(PageTarget, message.source_id)
    assert target.status == TargetStatus.open
    response = _voice(client, message.id, "1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Say" in response.text
    declared.session.refresh(target)
    assert (target.status, target.answered_via) == (TargetStatus.acknowledged, "voice")


def test_voice_keypress_2_declines(client, declared, frozen_clock):
    message = _voice_message(declared, frozen_clock)
    response = _voice(client, message.id, "2")
    assert response.status_code == 200
    target = declared.session.get(PageTarget, message.source_id)
    assert target.status == TargetStatus.declined
    again = _voice(client, message.id, "7")  # not understood: asked again, nothing changes
    assert again.status_code == 200 and again.text.count("<Gather") == 2
    assert f"page-voice?m={message.id}" in again.text
    declared.session.refresh(target)
    assert target.status == TargetStatus.declined


def test_the_api_answers_only_for_the_person_paged(client, declared, session, headers):
    holder = declared.user(declared.holder("commander"))
    target = declared.target_of("commander", holder.username)
    someone_else = headers(Role.agent)
    refused = client.post(f"/api/v1/pages/{target.id}/acknowledge", headers=someone_else)
    assert refused.status_code == 403
    mine = client.get("/api/v1/pages", headers=bearer(session, holder)).json()
    assert target.id in [item["target_id"] for item in mine]
    response = client.post(
        f"/api/v1/pages/{target.id}/acknowledge", headers=bearer(session, holder)
    )
    assert response.status_code == 200 and response.json()["page_status"] == "acknowledged"
    bad = client.post(f"/api/v1/pages/{target.id}/snooze", headers=bearer(session, holder))
    assert bad.status_code == 422 and bad.json()["field"] == "action"


def test_incident_api_exposes_paging_figures(client, declared, session, headers, frozen_clock):
    holder = declared.user(declared.holder("commander"))
    target = declared.target_of("commander", holder.username)
    frozen_clock.advance(timedelta(seconds=90))
    client.post(f"/api/v1/pages/{target.id}/acknowledge", headers=bearer(session, holder))
    viewer = headers(Role.viewer)
    body = client.get(f"/api/v1/incidents/{declared.incident.id}/paging", headers=viewer).json()
    commander = next(role for role in body["roles"] if role["role"] == "commander")
    assert commander["seconds_to_ack"] == 90 and commander["within_target"] is True
    assert commander["acknowledged_by"] == holder.username
    assert body["full_roster_at"] is None
    page = next(page for page in body["pages"] if page["role"] == "commander")
    assert page["targets"][0]["messages"][0]["channel"] == "sms"
