"""An appeal on the ticket's page: the appeal, its targets and investigation, and the forms the
reader's role allows (registering for whoever works the queue, naming the handler for
supervisors, notes and the answer for the handler alone), in Chinese and English."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.i18n import Locale
from incident_cmd.tickets import appeals, lifecycle
from incident_cmd.tickets.models import Appeal
from incident_cmd.tickets.schemas import AppealCreate, TicketResolve
from tests.factories import make_service_desk, make_team, make_ticket, make_user
from tests.plugins.web import (
    PASSWORD,
    UNNAMED,
    browser_login,
    chromium,
    needs_chromium,
    post_form,
    shot,
    sign_in_as,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def appeals_team(queue) -> tuple[str, str]:
    """(lead, handler) of the appeals team."""
    lead = make_user(queue.session, Role.responder)
    handler = make_user(queue.session, Role.agent)
    make_team(queue.session, key="appeals", lead=lead, members=[lead, handler])
    queue.session.flush()
    return lead.username, handler.username


def resolved(queue):
    ticket = queue.take_in()
    lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="已寄送维修"),
        actor=queue.session.get_one(User, ticket.assignee_id),
    )
    queue.session.flush()
    return ticket


def registered(queue, ticket) -> Appeal:
    appeal = appeals.register(
        queue.session,
        ticket=ticket,
        data=AppealCreate(grounds="维修后仍然不工作", channel="phone"),
        actor=queue.user(queue.agent),
    )
    queue.session.flush()
    return appeal


def test_whoever_works_the_queue_registers_an_appeal_from_the_page(
    client, queue, appeals_team, frozen_clock
):
    ticket = resolved(queue)  # Monday 09:00 in Shanghai
    frozen_clock.advance(timedelta(hours=3))
    page_url = f"/tickets/{ticket.id}"
    sign_in_as(client, queue.session, queue.agent, Locale.zh_CN)
    page = client.get(page_url).text
    assert 'id="appeal"' in page and "登记申诉" in page
    refused = post_form(
        client, f"{page_url}/appeals", {"grounds": "", "channel": "phone"}, token_from=page_url
    )
    assert refused.status_code == 400 and 'id="appeal-grounds-error"' in refused.text
    assert queue.session.exec(select(Appeal)).all() == []
    done = post_form(
        client,
        f"{page_url}/appeals",
        {"grounds": "维修后仍然不工作", "channel": "email", "received_at": "2026-11-23T10:30"},
        token_from=page_url,
    )
    assert done.status_code == 303, done.text
    [appeal] = queue.session.exec(select(Appeal)).all()
    # The picker's time is the reader's own (Shanghai).
    assert appeal.received_at == datetime(2026, 11, 23, 10, 30, tzinfo=SHANGHAI)
    page = client.get(page_url).text
    assert "申诉：响应时限" in page and "申诉：答复时限" in page and "维修后仍然不工作" in page
    assert 'id="appeal"' not in page  # one open appeal at a time
    assert 'id="appeal_assign"' not in page and 'id="appeal_answer"' not in page


def test_the_appeals_lead_names_a_handler_but_never_the_tickets_agent(client, queue, appeals_team):
    lead, handler = appeals_team
    ticket = resolved(queue)
    appeal = registered(queue, ticket)
    page_url = f"/tickets/{ticket.id}"
    sign_in_as(client, queue.session, lead)
    assert 'id="appeal_assign"' in client.get(page_url).text
    own = queue.session.get_one(User, ticket.assignee_id).username
    action = f"{page_url}/appeals/{appeal.id}/assign"
    refused = post_form(client, action, {"handler": own}, token_from=page_url)
    assert refused.status_code == 400
    assert 'id="appeal_assign-handler-error"' in refused.text and ticket.number in refused.text
    queue.session.refresh(appeal)
    assert appeal.handler_id is None
    named = post_form(client, action, {"handler": handler}, token_from=page_url)
    assert named.status_code == 303
    queue.session.refresh(appeal)
    assert appeal.handler_id == queue.user(handler).id


def test_only_the_handler_sees_and_uses_the_investigation_forms(client, queue, appeals_team):
    lead, handler = appeals_team
    ticket = resolved(queue)
    appeal = registered(queue, ticket)
    appeals.assign(
        queue.session, appeal=appeal, ticket=ticket, username=handler, actor=queue.user(lead)
    )
    queue.session.flush()
    page_url = f"/tickets/{ticket.id}"
    sign_in_as(client, queue.session, queue.agent)
    page = client.get(page_url).text
    assert 'id="appeal_note"' not in page and 'id="appeal_answer"' not in page
    sneaked = post_form(
        client,
        f"{page_url}/appeals/{appeal.id}/answer",
        {"outcome": "upheld", "answer": "x"},
        token_from=page_url,
    )
    assert sneaked.status_code == 403
    client.cookies.clear()
    sign_in_as(client, queue.session, handler)
    page = client.get(page_url).text
    assert 'id="appeal_note"' in page and 'id="appeal_answer"' in page
    assert "Partly upheld" in page
    noted = post_form(
        client,
        f"{page_url}/appeals/{appeal.id}/notes",
        {"note": "调取维修记录"},
        token_from=page_url,
    )
    assert noted.status_code == 303
    answered = post_form(
        client,
        f"{page_url}/appeals/{appeal.id}/answer",
        {"outcome": "partly_upheld", "answer": "为您免费更换新机"},
        token_from=page_url,
    )
    assert answered.status_code == 303, answered.text
    page = client.get(page_url).text
    assert "Partly upheld" in page and "调取维修记录" in page and "为您免费更换新机" in page
    assert 'id="appeal_answer"' not in page
    [message] = [m for m in queue.messages(ticket) if "-appeal-" in m.key]
    assert "12315" in message.body


@needs_chromium
def test_the_ticket_page_with_an_appeal_in_chromium(
    live_server, shipped_playbooks, frozen_clock, tmp_path
):
    with db.session_scope() as session:
        desk = make_service_desk(session, agents=2)
        lead = make_user(session, Role.responder, password=PASSWORD)
        handlers = {
            Locale.en: make_user(session, Role.agent, password=PASSWORD, locale=Locale.en),
            Locale.zh_CN: make_user(session, Role.agent, password=PASSWORD, locale=Locale.zh_CN),
        }
        make_team(session, key="appeals", lead=lead, members=[lead, *handlers.values()])
        agent = auth_service.get_user_by_username(session, username=desk.agents[0])
        tickets = {}
        for locale, handler in handlers.items():
            ticket = make_ticket(
                session, registry=shipped_playbooks, actor=agent, customer_name="王女士"
            )
            lifecycle.resolve(
                session,
                ticket=ticket,
                data=TicketResolve(resolution="已寄送维修,更换主板"),
                actor=session.get_one(User, ticket.assignee_id),
            )
            appeal = appeals.register(
                session,
                ticket=ticket,
                data=AppealCreate(
                    grounds="维修后一周又不工作了,要求退货",
                    channel="phone",
                    appellant="王女士的女儿",
                ),
                actor=agent,
            )
            appeals.assign(
                session, appeal=appeal, ticket=ticket, username=handler.username, actor=lead
            )
            appeals.add_note(
                session,
                appeal=appeal,
                ticket=ticket,
                note="已电话联系客户,调取维修记录",
                actor=handler,
            )
            tickets[locale] = (ticket.id, handler.username)

    with chromium() as browser:
        for locale, (ticket_id, username) in tickets.items():
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.goto(f"{live_server}/tickets/{ticket_id}")
            page.wait_for_selector("form#appeal_answer")
            appeal_text = page.inner_text("#appeals + article")
            assert ("申诉" if locale == Locale.zh_CN else "Appeal") in appeal_text
            assert "已电话联系客户" in appeal_text
            shot(page, tmp_path, f"appeals-ticket-{locale}-1280")
            assert page.evaluate(UNNAMED) == []  # every field labelled, every control named
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            page.wait_for_selector("form#appeal_answer")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            assert not overflow, "the page scrolls sideways on a phone"
            shot(page, tmp_path, f"appeals-ticket-{locale}-390")
            # The appeal itself, as a phone shows it on screen.
            page.locator("#appeals").scroll_into_view_if_needed()
            page.evaluate("document.getElementById('appeals').scrollIntoView()")
            shot(page, tmp_path, f"appeals-ticket-{locale}-390-appeal", full_page=False)
            page.close()
