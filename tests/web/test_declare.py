"""Declaring from a page (the same flow and roles as the API), refusals shown next to their
field with nothing created, and deciding on a complaint cluster: declare it or dismiss it
with a reason."""

import re

import pytest
from sqlmodel import func, select

from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import Campaign
from incident_cmd.incidents.models import Incident
from incident_cmd.paging.models import Page
from incident_cmd.tickets.models import Signal, SignalStatus, Ticket
from tests.factories import make_customer, make_playbook_teams
from tests.plugins.web import ORIGIN, csrf_token, post_form, sign_in

QUALITY = "PX-200 冒烟"


def incidents(session) -> int:
    return session.exec(select(func.count()).select_from(Incident)).one()


def error_next_to(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error"[^>]*>([^<]*)</p>', page)
    assert match, f"no error next to {field}"
    return match.group(1)


@pytest.fixture
def recall_teams(session, shipped_playbooks):
    make_playbook_teams(session, shipped_playbooks.get("product-recall").playbook)


def post_declare(client, **fields):
    return post_form(client, "/declare", fields, "/declare")


def test_the_form_offers_the_playbooks_and_what_customers_bought(client, session):
    make_customer(session, region="Zhejiang", purchases=[("PX-500", "B21")])
    sign_in(client, session)
    page = client.get("/declare").text
    assert 'value="product-recall"' in page and "Product quality recall" in page
    assert "Level 1 (threat to life or property)" in page
    assert "respond within 30m, resolve within 24h" in page
    assert 'value="product-recall:sev1"' in page
    assert '<option value="PX-500">PX-500</option>' in page
    assert '<option value="B21">B21</option>' in page
    assert '<option value="Zhejiang">Zhejiang</option>' in page


def test_a_duty_manager_declares_through_the_flow(client, session, recall_teams):
    sign_in(client, session)
    response = post_declare(
        client,
        playbook="product-recall",
        severity="product-recall:sev1",
        title="PX-200 电池过热",
        batches=["B7"],
        batches_other="B8，B9",
        drill="true",
    )
    assert response.status_code == 303, response.text
    incident = session.exec(select(Incident)).one()
    assert response.headers["location"] == f"/incidents/{incident.id}"
    assert (incident.title, incident.severity, incident.drill) == ("PX-200 电池过热", "sev1", True)
    assert incident.scope["batches"] == ["B7", "B8", "B9"]
    # What the API's declaration does: its roster paged, its notices drafted.
    assert session.exec(select(Page).where(Page.incident_id == incident.id)).first()
    assert session.exec(select(Campaign).where(Campaign.incident_id == incident.id)).first()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"playbook": "no-such-playbook", "severity": "sev1", "title": "X"},
            "playbook",
            "Choose one of the playbooks below.",
        ),
        (
            {"playbook": "product-recall", "severity": "product-recall:sev1", "title": " "},
            "title",
            "Give the incident a short title.",
        ),
        (
            {"playbook": "product-recall", "severity": "service-outage:sev1", "title": "X"},
            "severity",
            "Choose a severity of the chosen playbook.",
        ),
        (
            {"playbook": "product-recall", "severity": "product-recall:sev1", "title": "X"},
            "scope",
            "Name what is affected: this playbook needs the scope marked with *.",
        ),
    ],
)
def test_a_refused_field_is_shown_next_to_it_and_nothing_is_made(
    client, session, recall_teams, fields, field, message
):
    sign_in(client, session)
    response = post_declare(client, **fields)
    assert response.status_code == 400
    assert error_next_to(response.text, field) == message
    assert incidents(session) == 0
    # What was typed is still there.
    assert f'value="{fields["playbook"]}" checked' in response.text or field == "playbook"


def test_the_refusal_speaks_chinese(client, session, recall_teams):
    sign_in(client, session, locale="zh-CN")
    response = post_declare(client, playbook="product-recall", severity="sev1", title="")
    assert error_next_to(response.text, "title") == "请为事件填写简短标题。"
    assert incidents(session) == 0


@pytest.mark.parametrize("role", [Role.viewer, Role.responder, Role.comms, Role.agent])
def test_only_duty_managers_and_admins_declare(client, session, recall_teams, role):
    sign_in(client, session, role=role)
    assert client.get("/declare").status_code == 403
    token = csrf_token(client, "/")
    response = client.post(
        "/declare",
        data={"csrf_token": token, "playbook": "product-recall", "severity": "sev1", "title": "X"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert incidents(session) == 0


def test_an_admin_declares_too(client, session, recall_teams):
    sign_in(client, session, role=Role.admin)
    response = post_declare(
        client, playbook="product-recall", severity="sev2", title="X", products_other="PX-200"
    )
    assert response.status_code == 303


# --- a complaint cluster --------------------------------------------------------------------


@pytest.fixture
def signal(queue, shipped_playbooks) -> Signal:
    make_playbook_teams(queue.session, shipped_playbooks.get("product-recall").playbook)
    for _ in range(20):
        queue.take_in(QUALITY, product_model="PX-200", batch="B9")
    return queue.session.exec(select(Signal)).one()


def test_the_signal_page_shows_its_evidence(client, session, signal):
    sign_in(client, session)
    page = client.get(f"/signals/{signal.id}").text
    assert page.count('<tr data-ticket="') == 20
    assert '<script type="application/json" id="signal-hours" nonce="' in page
    assert '"counts": [20]' in page and "11-23 09:00" in page  # in Shanghai time
    assert "/static/vendor/echarts/echarts.min.js" in page
    assert f'action="/signals/{signal.id}/declare"' in page


def test_declaring_from_a_signal_links_its_complaints(client, session, signal):
    sign_in(client, session)
    token = csrf_token(client, f"/signals/{signal.id}")
    response = client.post(
        f"/signals/{signal.id}/declare",
        data={"csrf_token": token, "severity": "sev1", "title": "B9 冒烟"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    session.refresh(signal)
    assert signal.status == SignalStatus.declared and signal.incident_id
    assert response.headers["location"] == f"/incidents/{signal.incident_id}"
    linked = session.exec(select(Ticket).where(Ticket.incident_id == signal.incident_id)).all()
    assert len(linked) == 20
    assert session.get(Incident, signal.incident_id).title == "B9 冒烟"
    # Decided: the page says so and offers no second decision.
    page = client.get(f"/signals/{signal.id}").text
    assert f'href="/incidents/{signal.incident_id}"' in page and "/declare" not in page


def test_declaring_from_a_signal_needs_a_severity(client, session, signal):
    sign_in(client, session)
    token = csrf_token(client, f"/signals/{signal.id}")
    response = client.post(
        f"/signals/{signal.id}/declare", data={"csrf_token": token}, headers=ORIGIN
    )
    assert response.status_code == 400
    assert error_next_to(response.text, "severity")
    assert incidents(session) == 0
    session.refresh(signal)
    assert signal.status == SignalStatus.open


def test_dismissing_needs_a_reason(client, session, signal):
    sign_in(client, session, locale="zh-CN")
    token = csrf_token(client, "/")
    refused = client.post(
        f"/signals/{signal.id}/dismiss", data={"csrf_token": token, "reason": "  "}, headers=ORIGIN
    )
    assert refused.status_code == 400
    assert error_next_to(refused.text, "reason") == "请说明驳回该预警的原因。"
    session.refresh(signal)
    assert signal.status == SignalStatus.open
    response = client.post(
        f"/signals/{signal.id}/dismiss",
        data={"csrf_token": token, "reason": "同一客户重复来电"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.refresh(signal)
    assert (signal.status, signal.reason) == (SignalStatus.dismissed, "同一客户重复来电")
    again = client.post(
        f"/signals/{signal.id}/dismiss", data={"csrf_token": token, "reason": "x"}, headers=ORIGIN
    )
    assert again.status_code == 409
    assert "该预警已处理" in again.text


@pytest.mark.parametrize("role", [Role.viewer, Role.agent, Role.responder])
def test_others_cannot_see_or_decide_a_signal(client, session, signal, role):
    sign_in(client, session, role=role)
    assert client.get(f"/signals/{signal.id}").status_code == 403
    token = csrf_token(client, "/")
    response = client.post(
        f"/signals/{signal.id}/dismiss", data={"csrf_token": token, "reason": "x"}, headers=ORIGIN
    )
    assert response.status_code == 403
    session.refresh(signal)
    assert signal.status == SignalStatus.open


def test_a_chinese_duty_manager_picks_regions_by_their_chinese_names(client, session):
    make_customer(session, region="Zhejiang", purchases=[("PX-500", "B21")])
    sign_in(client, session, locale="zh-CN")
    page = client.get("/declare").text
    # Chosen by its Chinese name, sent as the region the purchases name.
    assert '<option value="Zhejiang">浙江</option>' in page
