"""The complaint pages: the queue (my tickets, my team's, all; the API's filters; what must be
done first at the top, paged by the last ticket's place; SLA countdowns; refreshed live), a
ticket's page with its actions, and the phone agents' intake form."""

import contextlib
import itertools
import json
import re
from datetime import timedelta
from typing import get_args

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import col, func, select

from incident_cmd import clock, db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, TokenKind
from incident_cmd.deps import SESSION_COOKIE
from incident_cmd.i18n import Locale
from incident_cmd.tickets import lifecycle
from incident_cmd.tickets.models import SlaTimer, Ticket, TicketStatus, TimerKind
from incident_cmd.tickets.policy import Category
from incident_cmd.tickets.schemas import TicketResolve
from incident_cmd.timeline import service as timeline
from incident_cmd.web.ticket_display import TICKET_LABELS
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

# Bounds a failing browser test only; every wait ends as soon as the page shows what it waits for.
WAIT_MS = 10_000


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


def _next_url(page_text: str) -> str | None:
    found = re.search(r'<a rel="next" href="([^"]+)"', page_text)
    return found.group(1).replace("&amp;", "&") if found else None


def _all_pages(client, url: str) -> list[list[str]]:
    pages = []
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        pages.append(_numbers(page.text))
        url = _next_url(page.text)
    return pages


def test_what_must_be_done_first_comes_first(client, session, queue, frozen_clock):
    """Overdue first, then by the next deadline: the first response until the ticket is
    answered, its next target after; waiting on the customer after those whose clock runs;
    resolved and closed out of the way unless asked for."""
    broken = queue.take_in("电饭煲不工作了")  # important: answered by 13:00
    smoke = queue.take_in("电饭煲冒烟了")  # urgent: answered by 09:30
    frozen_clock.advance(timedelta(minutes=10))
    how_to = queue.take_in("电饭煲怎么用")  # consultation: answered by 10:10
    frozen_clock.advance(timedelta(minutes=25))
    parcel = queue.take_in("快递没收到")  # routine: answered by 17:35 (working hours)
    sign_in_as(client, session, queue.desk.lead)

    def listed(query: str = "") -> list[str]:
        page = client.get(f"/tickets?tab=all{query}")
        assert page.status_code == 200, page.text
        return _numbers(page.text)

    # Newest first would put the smoking rice cooker, already late, at the bottom.
    assert listed() == [smoke.number, how_to.number, broken.number, parcel.number]
    queue.move(broken, "acknowledged")  # its next target: the handling plan, tomorrow 09:00
    queue.move(how_to, "acknowledged")
    queue.move(how_to, "waiting_customer")  # its clock stops
    assert listed() == [smoke.number, parcel.number, broken.number, how_to.number]
    queue.move(parcel, "acknowledged")
    lifecycle.resolve(
        session,
        ticket=parcel,
        data=TicketResolve(resolution="已补发"),
        actor=queue.user(queue.agent),
    )
    session.flush()
    assert listed() == [smoke.number, broken.number, how_to.number]
    every_status = "".join(f"&status={status}" for status in TicketStatus)
    assert listed(every_status) == [smoke.number, broken.number, how_to.number, parcel.number]


def _same_deadline(session, tickets, due) -> None:
    """Every target of ``tickets`` not yet met falls due at ``due``."""
    session.execute(
        update(SlaTimer)
        .where(col(SlaTimer.ticket_id).in_([t.id for t in tickets]), col(SlaTimer.met_at).is_(None))
        .values(due_at=due, warn_at=due, next_action_at=None)
    )
    session.expire_all()


def test_pages_follow_on_among_equal_deadlines(client, session, queue, frozen_clock):
    """Tickets due at the same moment go urgent first, then by id; each is on exactly one page."""
    tickets = [
        queue.take_in(description)
        for description in ("快递没收到", "电饭煲冒烟了", "电饭煲怎么用", "插头冒烟", "快递没收到")
        * 2
    ]
    _same_deadline(session, tickets, clock.now() + timedelta(hours=2))
    urgent = [t.number for t in tickets if t.priority == "urgent"]
    assert len(urgent) == 4
    sign_in_as(client, session, queue.desk.lead)
    pages = _all_pages(client, "/tickets?tab=all&limit=3")
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    shown = [number for page in pages for number in page]
    assert shown[:4] == urgent  # by id among the urgent ones
    rank = {"urgent": 0, "important": 1, "routine": 2, "consultation": 3}
    assert shown == [t.number for t in sorted(tickets, key=lambda t: (rank[t.priority], t.id))]


def test_a_page_follows_on_from_where_the_last_one_ended_though_tickets_moved(
    client, session, queue, frozen_clock
):
    """The cursor is the last ticket's place, not the ticket: the next page starts where the
    reader left off even when that ticket has since moved to the end or a ticket jumped the
    queue, and no ticket that stayed put is skipped or shown twice."""
    tickets = []
    for _ in range(7):
        tickets.append(queue.take_in("电饭煲不工作了"))
        frozen_clock.advance(timedelta(minutes=1))
    sign_in_as(client, session, queue.desk.lead)
    first = client.get("/tickets?tab=all&limit=3")
    assert _numbers(first.text) == [t.number for t in tickets[:3]]
    last_on_page = tickets[2]
    queue.move(last_on_page, "acknowledged")  # now due tomorrow: the end of the queue
    queue.take_in("电饭煲冒烟了")  # due in 30 minutes: before every page read so far
    rest = _all_pages(client, _next_url(first.text))
    after = [number for page in rest for number in page]
    assert after == [t.number for t in tickets[3:]] + [last_on_page.number]


def test_a_cursor_the_queue_did_not_give_shows_the_first_page(client, session, queue):
    ticket = queue.take_in()
    sign_in_as(client, session, queue.desk.lead)
    for cursor in (
        "12",
        "0.1.0.x",
        "3.0.0.1",
        "0.1.9.1",
        "0.1.0.0",
        "0.999999999999999999.0.1",
        "0.1.0.1.2",
    ):
        page = client.get(f"/tickets?tab=all&cursor={cursor}")
        assert page.status_code == 400, cursor
        assert 'id="cursor-error">That page link is not valid' in page.text
        assert _numbers(page.text) == [ticket.number]


# --- the countdown --------------------------------------------------------------------------


def test_the_countdown_changes_colour_at_the_warning_and_the_deadline(
    client, session, queue, frozen_clock
):
    """Worked out from the clock when the page is drawn, not from what the sweep last wrote;
    the words and the colour say the same; the list is fetched again just after the next
    change of colour, or within a minute for its minutes."""
    smoke = queue.take_in("电饭煲冒烟了")  # first response within 30 min, warned at 24
    response = queue.timer(smoke, TimerKind.response)
    assert response.warn_at == clock.now() + timedelta(minutes=24)
    sign_in_as(client, session, queue.agent)

    def chip() -> tuple[str, str, str, float]:
        page = client.get("/tickets?tab=all").text
        row = re.search(r'<tr data-number="[^"]+" class="sla-row-(\w+)">', page)
        found = re.search(r'<span class="sla sla-(\w+)">([^<]+)</span>', page)
        refresh = re.search(r'data-refresh-in="([0-9.]+)"', page)
        assert row and found and refresh, page
        return row.group(1), found.group(1), found.group(2), float(refresh.group(1))

    assert chip() == ("ok", "ok", "First response due in 30 min", 60.0)
    frozen_clock.advance(timedelta(minutes=24) - timedelta(seconds=10))
    assert chip() == ("ok", "ok", "First response due in 7 min", 10.5)
    frozen_clock.advance(timedelta(seconds=10))  # exactly at the warning
    assert chip() == ("warning", "warning", "First response due in 6 min", 60.0)
    session.refresh(smoke)
    assert smoke.breach_state == "ok"  # the sweep has not been: the page does not wait for it
    frozen_clock.advance(timedelta(minutes=6) - timedelta(seconds=20))
    assert chip() == ("warning", "warning", "First response due in 1 min", 20.5)
    frozen_clock.advance(timedelta(seconds=20))  # exactly at the deadline
    row_state, state, text, _ = chip()
    assert (row_state, state) == ("breached", "breached")
    assert text.startswith("First response overdue by")
    frozen_clock.advance(timedelta(minutes=5))
    assert chip()[1:3] == ("breached", "First response overdue by 5 min")


# --- live -----------------------------------------------------------------------------------


def _session_cookie(user) -> dict[str, str]:
    with db.session_scope() as session:
        _, secret = auth_service.issue_token(
            session,
            user=session.merge(user),
            name="web login",
            kind=TokenKind.session,
            expires_in=None,
            actor_id=user.id,
        )
    return {SESSION_COOKIE: secret}


def _first_event(response: httpx.Response) -> tuple[str | None, dict]:
    name = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            return name, json.loads(line.removeprefix("data:"))
    raise AssertionError("the stream ended without an event")


def _record(subject_type: str, subject_id: int, kind: str) -> None:
    with db.session_scope() as session:
        timeline.append(
            session,
            subject_type=subject_type,
            subject_id=subject_id,
            kind=kind,
            summary="changed",
            actor_id=None,
        )


def test_every_role_that_reads_the_queue_hears_its_tickets_change(live_server):
    """Every role reads the queue (as every role reads tickets through the API), so every
    signed-in role gets the stream; it carries a ticket's changes and not the messages sent
    about it, nor other subjects."""
    with db.session_scope() as session:
        people = {role: make_user(session, role) for role in Role}
    cookies = {role: _session_cookie(person) for role, person in people.items()}
    with contextlib.ExitStack() as streams:
        responses = {}
        for role, cookie in cookies.items():
            browser = streams.enter_context(
                httpx.Client(base_url=live_server, cookies=cookie, timeout=httpx.Timeout(10.0))
            )
            responses[role] = streams.enter_context(browser.stream("GET", "/live/queue"))
            assert responses[role].status_code == 200, role
            assert responses[role].headers["content-type"].startswith("text/event-stream")
        _record("ticket", 41, "message.sent")
        _record("incident", 41, "incident.updated")
        _record("ticket", 42, "ticket.status")
        for role, response in responses.items():
            assert _first_event(response) == (
                "queue",
                {
                    "subject_type": "ticket",
                    "subject_id": 42,
                    "kind": "ticket.status",
                    "incident_id": None,
                },
            ), role


def test_the_queue_s_stream_is_refused_without_a_live_session(client, session):
    anonymous = client.get("/live/queue", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    agent = make_user(session, Role.agent)
    token, secret = auth_service.issue_token(
        session,
        user=agent,
        name="web login",
        kind=TokenKind.session,
        expires_in=None,
        actor_id=None,
    )
    token.revoked_at = clock.now()
    session.add(token)
    session.flush()
    client.cookies.set(SESSION_COOKIE, secret)
    revoked = client.get("/live/queue", follow_redirects=False)
    assert revoked.status_code == 303 and revoked.headers["location"] == "/login"
    assert not revoked.headers.get("content-type", "").startswith("text/event-stream")


def test_the_queue_page_listens_to_its_stream(client, session, queue):
    queue.take_in()
    sign_in_as(client, session, queue.agent)
    page = client.get("/tickets?tab=all&priority=important").text
    assert 'sse-connect="/live/queue"' in page
    assert 'src="/static/queue.js"' in page
    # Fetched again at the same address: the filters stay.
    assert re.search(r'id="queue-list" hx-get="/tickets\?tab=all&amp;priority=important"', page)


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


def test_an_agent_records_the_verification_and_tells_the_customer_the_planned_date(
    client, session, queue, frozen_clock
):
    ticket = queue.take_in("电饭煲不工作了", product_model="PX-200")
    sign_in_as(client, session, queue.agent, Locale.zh_CN)
    path = f"/tickets/{ticket.id}"
    page = client.get(path).text
    assert f'action="{path}/verification"' in page and "投诉是否属实" in page
    assert 'name="resolve_by"' in page

    unchosen = post_form(client, f"{path}/verification", {"note": "查看了照片"}, path)
    assert unchosen.status_code == 400
    assert 'id="verify-outcome-error"' in unchosen.text and "查看了照片" in unchosen.text
    verified = post_form(
        client,
        f"{path}/verification",
        {"outcome": "substantiated", "note": "查看了照片，电源板烧毁"},
        path,
    )
    assert verified.status_code == 303
    assert f'action="{path}/verification"' not in client.get(path).text  # once only

    past = post_form(client, f"{path}/plan", {"note": "返厂维修", "resolve_by": "2026-11-01"}, path)
    assert past.status_code == 400
    assert 'id="plan-resolve_by-error"' in past.text
    planned = post_form(
        client, f"{path}/plan", {"note": "返厂维修", "resolve_by": "2026-11-30"}, path
    )
    assert planned.status_code == 303
    assert queue.events(ticket, "ticket.")[-3:] == [
        "ticket.verified",
        "ticket.plan",
        "ticket.timetable",
    ]
    history = client.get(path).text
    assert "已核实" in history and "已告知客户计划解决日期" in history


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


def _urgent_queue(session, registry, frozen_clock) -> tuple[list[str], list[str]]:
    """A desk whose agents (one reading English, one Chinese) have a queue with something
    late, something near its deadline and something calm; the agents' usernames."""
    desk = make_service_desk(session, agents=2)
    for username, locale in zip(desk.agents, (Locale.en, Locale.zh_CN), strict=True):
        user = auth_service.get_user_by_username(session, username=username)
        auth_service.set_password(session, user=user, password=PASSWORD, actor_id=None)
        user.locale = locale
        session.add(user)
    taker = auth_service.get_user_by_username(session, username=desk.agents[1])
    numbers = []
    for description, name, later in (
        ("电饭煲冒烟了", "张先生", 10),
        ("插座冒烟", "李女士", 15),
        ("电热水壶漏电", "赵先生", 10),
    ):
        ticket = make_ticket(
            session, registry=registry, actor=taker, description=description, customer_name=name
        )
        numbers.append(ticket.number)
        frozen_clock.advance(timedelta(minutes=later))
    return desk.agents, numbers


def _take_in_elsewhere(registry, description: str) -> str:
    """A complaint taken in by another agent in a session of its own, as another browser's
    request or an API call would."""
    with db.session_scope() as session:
        ticket = make_ticket(session, registry=registry, description=description)
        return ticket.number


@needs_chromium
def test_a_complaint_taken_in_elsewhere_appears_in_an_open_queue(
    live_server, shipped_playbooks, frozen_clock, tmp_path
):
    """Without a reload: the agent's filter and the page stay as they were, and a burst of
    complaints is fetched at most once a second, the last of them shown."""
    with db.session_scope() as session:
        agents, numbers = _urgent_queue(session, shipped_playbooks, frozen_clock)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(
            'document.addEventListener("htmx:sseOpen", () => { window.streamOpen = true; });'
        )
        browser_login(page, live_server, agents[0])
        page.goto(f"{live_server}/tickets?tab=all&priority=urgent")
        rows = page.locator("#tickets tbody tr")
        expect(rows).to_have_count(3)
        assert [row.get_attribute("data-number") for row in rows.all()] == numbers
        page.wait_for_function("() => window.streamOpen === true")
        page.evaluate("window.queueWatched = true")
        urgent = _take_in_elsewhere(shipped_playbooks, "插头冒烟了")
        expect(page.locator(f'tr[data-number="{urgent}"]')).to_be_visible(timeout=WAIT_MS)
        with page.expect_response(lambda response: response.request.headers.get("hx-request")):
            routine = _take_in_elsewhere(shipped_playbooks, "快递没收到")
        # The newest urgent complaint is due last: at the bottom of this queue.
        assert rows.last.get_attribute("data-number") == urgent
        expect(page.locator(f'tr[data-number="{routine}"]')).to_have_count(0)

        # Each announced just after a fetch began: the next must wait for its second to pass.
        page.evaluate(
            """() => {
                window.fetchedAt = [];
                document.addEventListener("htmx:beforeSend", (event) => {
                    if (event.detail.elt.id === "queue-list") window.fetchedAt.push(Date.now());
                });
            }"""
        )
        burst = []
        for _ in range(4):
            with page.expect_request(lambda request: request.headers.get("hx-request") == "true"):
                burst.append(_take_in_elsewhere(shipped_playbooks, "电饭煲冒烟"))
        expect(rows).to_have_count(4 + len(burst))
        expect(page.locator(f'tr[data-number="{burst[-1]}"]')).to_be_visible()
        fetched_at = page.evaluate("() => window.fetchedAt")
        gaps = [later - earlier for earlier, later in itertools.pairwise(fetched_at)]
        assert len(gaps) >= 3 and all(gap >= 950 for gap in gaps), gaps
        assert page.url.endswith("/tickets?tab=all&priority=urgent")
        assert page.evaluate("window.queueWatched") is True, "the queue was reloaded"
        page.close()

        for username, locale in zip(agents, (Locale.en, Locale.zh_CN), strict=True):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.goto(f"{live_server}/tickets?tab=all")
            page.wait_for_selector("#tickets")
            shot(page, tmp_path, f"queue-live-{locale}-1280")
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            page.wait_for_selector("#tickets")
            shot(page, tmp_path, f"queue-live-{locale}-390")
            page.close()


def test_every_category_and_timer_has_words_for_the_page():
    assert set(get_args(Category)) <= set(TICKET_LABELS["category"])
    assert set(TimerKind) <= set(TICKET_LABELS["timer"])
