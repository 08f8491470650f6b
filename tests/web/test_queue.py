"""The complaint pages: the queue (my tickets, my team's, all; the API's filters; the API's
cursor), a ticket's page with its actions, and the phone agents' intake form."""

import re
from datetime import timedelta

import pytest
from sqlmodel import func, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.i18n import Locale
from incident_cmd.tickets.models import Ticket, TicketStatus, TimerKind
from tests.factories import make_customer, make_service_desk, make_ticket, make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    needs_chromium,
    post_form,
    shot,
    sign_in_as,
)


def _numbers(page_text: str) -> list[str]:
    return re.findall(r'data-number="([^"]+)"', page_text)


# --- the queue ------------------------------------------------------------------------------


def test_my_tickets_and_my_teams(client, session, queue):
    tickets = [queue.take_in() for _ in range(5)]
    mine = [t.number for t in tickets if t.assignee_id == queue.user(queue.agent).id]
    assert mine and len(mine) < len(tickets)
    elsewhere = tickets[-1]
    elsewhere.team_key = "warranty-desk"
    session.add(elsewhere)
    sign_in_as(client, session, queue.agent)

    own = client.get("/tickets?tab=mine")
    assert own.status_code == 200
    assert sorted(_numbers(own.text)) == sorted(mine)
    team = client.get("/tickets?tab=team")
    assert sorted(_numbers(team.text)) == sorted(t.number for t in tickets[:-1])
    everything = client.get("/tickets?tab=all")
    assert elsewhere.number in _numbers(everything.text)
    # An agent starts on their own tickets.
    assert sorted(_numbers(client.get("/tickets").text)) == sorted(mine)


def test_filters_as_the_api_offers_them(client, session, queue, frozen_clock):
    broken = queue.take_in("电饭煲不工作了")  # product quality, important
    parcel = queue.take_in("快递没收到")  # logistics, routine
    smoke = queue.take_in("电饭煲冒烟了")  # safety: urgent, answered within 30 minutes
    queue.move(broken, "acknowledged")
    frozen_clock.advance(timedelta(minutes=40))
    while queue.sweep():  # one stage a sweep: the warning, then the breach
        pass
    session.refresh(smoke)
    assert smoke.breach_state == "breached"
    sign_in_as(client, session, queue.desk.lead)

    def shown(query: str) -> set[str]:
        page = client.get(f"/tickets?tab=all&{query}")
        assert page.status_code == 200, page.text
        return set(_numbers(page.text))

    assert shown("status=acknowledged") == {broken.number}
    assert shown("status=new&status=acknowledged") == {broken.number, parcel.number, smoke.number}
    assert shown("category=logistics") == {parcel.number}
    assert shown("priority=urgent") == {smoke.number}
    assert shown("breach_state=breached") == {smoke.number}
    agent = queue.user(queue.agent)
    assigned = {t.number for t in (broken, parcel, smoke) if t.assignee_id == agent.id}
    assert assigned and shown(f"assignee={agent.username}&category=") == assigned
    # The countdown says how late, in words and in colour.
    page = client.get("/tickets?tab=all&priority=urgent")
    assert "sla sla-breached" in page.text
    assert "First response overdue by 10 min" in page.text
    bad = client.get("/tickets?tab=all&assignee=nobody.at.all&priority=whenever")
    assert bad.status_code == 400
    assert re.search(r'id="assignee-error">No one has this username', bad.text)
    assert re.search(r'id="priority-error">Not one of the options', bad.text)


def test_contacts_masked_for_viewers_only(client, session, queue):
    ticket = queue.take_in(phone="+8613912345678")
    make_user(session, Role.viewer, username=f"watch.{ticket.id}")
    sign_in_as(client, session, queue.agent)
    assert "+8613912345678" in client.get("/tickets?tab=all").text
    post_form(client, "/logout", {}, "/")
    sign_in_as(client, session, f"watch.{ticket.id}")
    listed = client.get("/tickets?tab=all").text
    assert "+8613912345678" not in listed and "+86 139****5678" in listed
    page = client.get(f"/tickets/{ticket.id}").text
    assert "+8613912345678" not in page and "+86 139****5678" in page
    # A viewer has no action to take.
    assert "/status" not in page and "/resolve" not in page
    assert 'href="/tickets/new"' not in listed


def test_next_page_by_the_apis_cursor(client, session, queue):
    oldest, middle, newest = (queue.take_in() for _ in range(3))
    sign_in_as(client, session, queue.desk.lead)
    first = client.get("/tickets?tab=all&status=new&limit=2")
    assert _numbers(first.text) == [newest.number, middle.number]
    next_url = re.search(r'<a rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert f"cursor={middle.id}" in next_url and "status=new" in next_url
    second = client.get(next_url)
    assert _numbers(second.text) == [oldest.number]
    assert 'rel="next"' not in second.text


# --- a ticket's page and its actions --------------------------------------------------------


def test_an_agent_works_a_ticket_to_resolution(client, session, queue):
    customer = make_customer(session, phone="+8613955550000", purchases=[("PX-200", "B7")])
    earlier = queue.take_in("快递没收到", phone=customer.phone)
    ticket = queue.take_in("电饭煲不工作了", phone=customer.phone, product_model="PX-200")
    sign_in_as(client, session, queue.agent)
    path = f"/tickets/{ticket.id}"
    page = client.get(path)
    assert page.status_code == 200
    assert earlier.number in page.text and "PX-200" in page.text and "B7" in page.text
    assert "Taken in" in page.text  # the history

    acknowledged = post_form(client, f"{path}/status", {"status": "acknowledged"}, path)
    assert acknowledged.status_code == 303
    planned = post_form(client, f"{path}/plan", {"note": "上门检测，三天内换新"}, path)
    assert planned.status_code == 303
    resolved = post_form(
        client,
        f"{path}/resolve",
        {
            "resolution": "已换新机",
            "responsible_department": "质量部",
            "compensation_amount": "120.50",
        },
        path,
    )
    assert resolved.status_code == 303
    session.refresh(ticket)
    assert ticket.status == TicketStatus.resolved and ticket.compensation_amount == 120.5
    assert queue.timer(ticket, TimerKind.handling_plan).met_in_time
    assert queue.events(ticket, "ticket.") == [
        "ticket.created",
        "ticket.assigned",
        "ticket.status",
        "ticket.plan",
        "ticket.resolved",
    ]
    page = client.get(path).text
    assert "已换新机" in page and "120.50" in page and 'action="' + path + '/reopen"' in page


def test_a_refused_action_shows_why_next_to_the_field_and_changes_nothing(client, session, queue):
    ticket = queue.take_in()
    sign_in_as(client, session, queue.agent)
    path = f"/tickets/{ticket.id}"
    empty = post_form(
        client, f"{path}/resolve", {"resolution": " ", "compensation_amount": "12.345"}, path
    )
    assert empty.status_code == 400
    assert re.search(r'id="resolve-resolution-error"[^>]*>Fill this in\.', empty.text)
    assert re.search(r'id="resolve-compensation_amount-error"[^>]*>Enter an amount', empty.text)
    assert 'value="12.345"' in empty.text  # what was typed stays
    wrong_state = post_form(client, f"{path}/reopen", {"reason": "客户不满意"}, path)
    assert wrong_state.status_code == 409
    assert re.search(
        r'id="reopen-form-error"[^>]*>[^<]*only a resolved ticket reopens', wrong_state.text
    )
    session.refresh(ticket)
    assert ticket.status == TicketStatus.new and ticket.resolved_at is None
    assert queue.events(ticket, "ticket.") == ["ticket.created", "ticket.assigned"]


def test_only_the_ticket_s_people_act_on_it(client, session, queue):
    ticket = queue.take_in()
    outsider = make_user(session, Role.agent)
    watcher = make_user(session, Role.viewer)
    for person in (outsider, watcher):
        sign_in_as(client, session, person.username)
        path = f"/tickets/{ticket.id}"
        refused = post_form(client, f"{path}/status", {"status": "acknowledged"}, path)
        assert refused.status_code == 403
        client.cookies.clear()
    session.refresh(ticket)
    assert ticket.status == TicketStatus.new


# --- intake ---------------------------------------------------------------------------------


def _ticket_count(session) -> int:
    return session.exec(select(func.count()).select_from(Ticket)).one()


def test_intake_takes_a_complaint_in_and_opens_it(client, session, queue):
    sign_in_as(client, session, queue.agent)
    form = client.get("/tickets/new")
    assert form.status_code == 200
    assert re.search(r'<textarea name="description"[^>]*maxlength="10000" required', form.text)
    taken = post_form(
        client,
        "/tickets/new",
        {
            "customer_name": "王女士",
            "phone": "13900001111",
            "channel": "phone",
            "description": "电饭煲冒烟了",
            "product_model": "PX-200",
            "batch": "B7",
            "requested": "exchange",
        },
        "/tickets/new",
    )
    assert taken.status_code == 303
    ticket_id = int(taken.headers["location"].rsplit("/", 1)[1])
    ticket = session.get(Ticket, ticket_id)
    assert ticket.contact == "+8613900001111" and ticket.priority == "urgent" and ticket.safety
    assert ticket.requested == "exchange" and ticket.batch == "B7"
    page = client.get(taken.headers["location"]).text
    assert ticket.number in page and "王女士" in page


def test_intake_with_a_missing_field_shows_it_and_takes_nothing_in(client, session, queue):
    sign_in_as(client, session, queue.agent)
    before = _ticket_count(session)
    missing = post_form(
        client,
        "/tickets/new",
        {"customer_name": "李先生", "channel": "phone", "description": "", "requested": "repair"},
        "/tickets/new",
    )
    assert missing.status_code == 400
    assert re.search(r'id="description-error">Fill this in\.', missing.text)
    assert re.search(r'id="phone-error">Give the customer&#39;s phone or email', missing.text)
    assert 'value="李先生"' in missing.text
    assert _ticket_count(session) == before


def test_a_viewer_cannot_take_complaints_in(client, session, queue):
    watcher = make_user(session, Role.viewer)
    sign_in_as(client, session, watcher.username)
    before = _ticket_count(session)
    refused = post_form(
        client,
        "/tickets/new",
        {"phone": "13900002222", "channel": "phone", "description": "坏了"},
        "/tickets",
    )
    assert refused.status_code == 403
    assert _ticket_count(session) == before


# --- languages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (Locale.zh_CN, ["投诉工单队列", "我的工单", "首次响应：剩余", "产品质量", "投诉工单"]),
        (Locale.en, ["Complaint queue", "My tickets", "First response due in", "Product quality"]),
    ],
)
def test_the_queue_speaks_the_reader_s_language(client, session, queue, locale, words):
    ticket = queue.take_in("电饭煲不工作了")
    sign_in_as(client, session, queue.agent, locale)
    listed = client.get("/tickets?tab=all").text
    for word in words:
        assert word in listed
    page = client.get(f"/tickets/{ticket.id}").text
    assert ("处理方案" if locale == Locale.zh_CN else "Handling plan") in page


# --- in a browser ---------------------------------------------------------------------------


@needs_chromium
def test_an_agent_takes_a_call_through_to_resolution_in_chromium(
    live_server, shipped_playbooks, frozen_clock, tmp_path
):
    with db.session_scope() as session:
        desk = make_service_desk(session, agents=2)
        for username in (desk.agents[0], desk.agents[1]):
            user = auth_service.get_user_by_username(session, username=username)
            auth_service.set_password(session, user=user, password=PASSWORD, actor_id=None)
            user.locale = Locale.en if username == desk.agents[0] else Locale.zh_CN
            session.add(user)
        # A queue with something late, something near its deadline and something calm.
        first = auth_service.get_user_by_username(session, username=desk.agents[0])
        for description, name in (("电饭煲冒烟了", "张先生"), ("快递没收到", "李女士")):
            make_ticket(
                session,
                registry=shipped_playbooks,
                actor=first,
                description=description,
                customer_name=name,
            )
        frozen_clock.advance(timedelta(minutes=10))
        make_ticket(
            session,
            registry=shipped_playbooks,
            actor=first,
            description="插头冒烟",
            customer_name="赵先生",
        )
        frozen_clock.advance(timedelta(minutes=25))
    agents = {Locale.en: desk.agents[0], Locale.zh_CN: desk.agents[1]}

    with chromium() as browser:
        for locale, username in agents.items():
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.goto(f"{live_server}/tickets/new")
            page.fill(
                "input[name=customer_name]", "王女士" if locale == Locale.zh_CN else "Ms Wang"
            )
            page.fill("input[name=phone]", f"1390000{3000 + len(locale)}")
            page.fill("textarea[name=description]", "电饭煲不工作了，按键没反应")
            page.fill("input[name=product_model]", "PX-200")
            page.fill("input[name=batch]", "B7")
            page.select_option("select[name=requested]", "repair")
            shot(page, tmp_path, f"ticket-new-{locale}-1280")
            page.click("form#intake button[type=submit]")
            page.wait_for_selector("#countdown")
            page.click("form#status button[value=acknowledged]")
            page.wait_for_selector("form#plan")
            page.fill("form#plan textarea[name=note]", "上门检测，三天内换新")
            page.click("form#plan button[type=submit]")
            page.wait_for_selector("form#resolve")
            page.fill("form#resolve textarea[name=resolution]", "已更换新机")
            page.fill("form#resolve input[name=compensation_amount]", "120.50")
            page.click("form#resolve button[type=submit]")
            page.wait_for_selector("form#reopen")
            history = page.inner_text("#history")
            assert ("已解决" if locale == Locale.zh_CN else "Resolved") in history
            shot(page, tmp_path, f"ticket-{locale}-1280")
            page.goto(f"{live_server}/tickets?tab=all")
            page.wait_for_selector("#tickets")
            shot(page, tmp_path, f"queue-{locale}-1280")
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            shot(page, tmp_path, f"queue-{locale}-390")
            page.goto(page.url.replace("/tickets?tab=all", "/tickets/new"))
            shot(page, tmp_path, f"ticket-new-{locale}-390")
            page.close()
