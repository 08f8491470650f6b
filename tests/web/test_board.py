"""The board: every open incident with its clocks and figures, drills apart, complaint
clusters waiting for a decision, declared from the board in a real browser."""

import gc
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import event
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns.models import Campaign
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident, IncidentStatus
from incident_cmd.incidents.schemas import Scope, StatusChange
from incident_cmd.paging.answers import acknowledge
from incident_cmd.paging.models import AnswerRoute, PageStatus
from incident_cmd.paging.queries import pages_of, targets_of
from incident_cmd.tickets.models import Signal
from tests.factories import make_incident, make_playbook_teams, make_ticket, make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    needs_chromium,
    shot,
    sign_in,
)

QUALITY = "PX-200 冒烟"  # counted by the recall playbook's batch trigger (20 in 24 hours)


def row_of(page: str, number: str) -> str:
    match = re.search(rf'<tr data-number="{number}".*?</tr>', page, re.S)
    assert match, f"{number} is not on the board"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</table>", start)]


def complaints(queue, count: int, batch: str = "B9") -> None:
    for _ in range(count):
        queue.take_in(QUALITY, product_model="PX-200", batch=batch)


@pytest.fixture
def recall(session, shipped_playbooks):
    """A sev1 recall with one seat acknowledged and its notices drafted."""
    incident = make_incident(session, registry=shipped_playbooks, title="PX-200 电池过热")
    first_page = pages_of(session, incident=incident)[0]
    acknowledge(
        session, target=targets_of(session, page_ids=[first_page.id])[0], via=AnswerRoute.api
    )
    return incident


def test_the_board_shows_each_open_incident_with_its_figures(
    client, session, shipped_playbooks, queue, frozen_clock, recall
):
    complaints(queue, 2, batch="B7")  # in the recall's scope: linked to it as they come in
    frozen_clock.advance(timedelta(minutes=150))
    outage = make_incident(
        session, registry=shipped_playbooks, playbook="service-outage", severity="sev2"
    )
    incident_service.transition(
        session,
        incident=outage,
        actor=make_user(session, Role.duty_manager),
        change=StatusChange(status=IncidentStatus.active),
    )
    closed = make_incident(session, registry=shipped_playbooks, playbook="service-outage")
    incident_service.transition(
        session,
        incident=closed,
        actor=make_user(session, Role.duty_manager),
        change=StatusChange(status=IncidentStatus.resolved),
    )
    sign_in(client, session)

    page = client.get("/")
    assert page.status_code == 200
    text = row_of(page.text, recall.number)
    seats = incident_service.current_roster(session, incident=recall)
    tasks = incident_service.tasks_of(session, incident=recall)
    pages = [p for p in pages_of(session, incident=recall) if p.status != PageStatus.cancelled]
    acknowledged = sum(p.status == PageStatus.acknowledged for p in pages)
    overdue = sum(task.due_at <= frozen_clock() for task in tasks)
    drafts = len(session.exec(select(Campaign).where(Campaign.incident_id == recall.id)).all())
    assert acknowledged == 1 and overdue > 0 and drafts > 0
    assert "PX-200 电池过热" in text and "Product recall" in text and "SEV1" in text
    assert f"{sum(s.user_id is not None for s in seats)}/{len(seats)} seats filled" in text
    assert f"{acknowledged}/{len(pages)} acknowledged" in text
    assert f"{len(tasks)} open" in text and f"{overdue} overdue" in text
    assert f"{drafts} awaiting approval" in text
    assert "2 linked" in text
    # Declared at 09:00 in Shanghai; sev1 recall: respond within 30 min, resolve within 24 h.
    assert "2026-11-23 09:00 CST" in text and "2 h 30 min ago" in text
    assert "Respond ⚠ overdue 2 h 0 min" in text and "Resolve 21 h 30 min left" in text
    outage_row = row_of(page.text, outage.number)
    assert "Respond ✓ met" in outage_row and "0 linked" in outage_row
    assert closed.number not in page.text
    # sev1 before sev2, whatever the order they were declared in.
    assert page.text.index(recall.number) < page.text.index(outage.number)
    # The fragment is the same body, for the live refresh.
    fragment = client.get("/board/fragment")
    assert fragment.text.lstrip().startswith('<section id="board"')
    assert 'hx-trigger="sse:board' in fragment.text
    assert row_of(fragment.text, recall.number) == text
    assert 'sse-connect="/live/board"' in page.text


def test_drills_are_shown_apart(client, session, shipped_playbooks):
    real = make_incident(session, registry=shipped_playbooks, title="真实事件")
    drill = make_incident(
        session,
        registry=shipped_playbooks,
        playbook="natural-disaster",
        scope=Scope(regions=["Fujian"]),
        title="台风演练",
        drill=True,
    )
    sign_in(client, session, locale="zh-CN")
    page = client.get("/").text
    assert real.number in section(page, "incidents")
    assert drill.number not in section(page, "incidents")
    drills = section(page, "drill-incidents")
    assert drill.number in drills and "台风演练" in drills and "演练" in drills
    assert "演练——仅为演习,不是真实事件" in page


def test_signals_wait_on_the_board_for_a_duty_manager(client, session, queue):
    complaints(queue, 20)
    [signal] = session.exec(select(Signal)).all()
    sign_in(client, session)
    page = client.get("/").text
    assert "Complaint clusters waiting for a decision" in page
    assert "20 complaints in 1 d 0 h" in page and "PX-200" in page and "B9" in page
    assert f'href="/signals/{signal.id}"' in page
    assert f'action="/signals/{signal.id}/dismiss"' in page
    assert 'href="/declare"' in page


@pytest.mark.parametrize("role", [Role.viewer, Role.responder])
def test_others_see_no_actions_only_that_signals_wait(
    client, session, shipped_playbooks, queue, role
):
    elsewhere = Scope(products=["PX-900"], batches=["Z1"], regions=["Fujian"])
    recall = make_incident(session, registry=shipped_playbooks, scope=elsewhere)
    complaints(queue, 20)
    sign_in(client, session, role=role)
    page = client.get("/").text
    assert recall.number in page
    assert 'href="/declare"' not in page and "/dismiss" not in page and "/signals/" not in page
    assert "1 complaint cluster is waiting for a duty manager's decision." in page
    assert client.get("/declare").status_code == 403


def test_the_board_speaks_chinese(client, session, recall):
    sign_in(client, session, locale="zh-CN")
    page = client.get("/").text
    text = row_of(page, recall.number)
    assert "产品召回" in text and "席位已安排" in text and "剩余" in text
    assert "进行中的事件" in page and "宣布事件" in page


def test_the_board_is_one_query_per_kind_of_figure(client, session, shipped_playbooks):
    for _ in range(3):
        make_incident(session, registry=shipped_playbooks)
    sign_in(client, session)

    def count(extra: int) -> int:
        for _ in range(extra):
            make_incident(session, registry=shipped_playbooks)
        # The first read caches the pinned playbook (and, in a test that shares the app's
        # session, refreshes what the factories left expired).
        client.get("/board/fragment")
        # The shared session keeps a row only while something refers to it, and the rows
        # of the warm-up render hang in reference cycles until the collector runs: collect
        # now, so that whether a garbage collection fell between the two reads (it depends
        # on what ran before) cannot change what this one has to load.
        gc.collect()
        statements: list[str] = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(session.get_bind(), "before_cursor_execute", record)
        try:
            assert client.get("/board/fragment").status_code == 200
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", record)
        return len(statements)

    assert count(0) == count(5)


def test_the_linked_complaint_count_reads_the_incident_index_on_postgres(session, recall):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the plan that matters is PostgreSQL's")
    from sqlalchemy import text

    session.execute(text("SET LOCAL enable_seqscan = off"))  # a test table is tiny
    plan = "\n".join(
        row[0]
        for row in session.execute(
            text(
                "EXPLAIN SELECT incident_id, count(*) FROM tickets "
                "WHERE incident_id IN (:a, :b) GROUP BY incident_id"
            ),
            {"a": recall.id, "b": recall.id + 1},
        )
    )
    assert "ix_tickets_incident_id" in plan, plan


BOARD_CLOCK = re.compile(r'<div class="clock deadline-(\w+)"><span class="clock-label">(\w+)')
ROOM_CLOCK = re.compile(r'<div class="deadline deadline-(\w+)">\s*<dt>(\w+) by</dt>')


def _board_clocks(page: str, number: str) -> dict[str, str]:
    match = re.search(rf'<tr data-number="{number}".*?</tr>', page, re.S)
    assert match, f"{number} is not on the board"
    return {label: urgency for urgency, label in BOARD_CLOCK.findall(match.group(0))}


def _room_clocks(page: str) -> dict[str, str]:
    return {label: urgency for urgency, label in ROOM_CLOCK.findall(page)}


# A sev1 recall: respond within 30 minutes, resolve within 24 hours. The last quarter of the
# time allowed (at least 15 minutes) is close.
@pytest.mark.parametrize(
    ("minutes", "respond", "resolve"),
    [(10, "ok", "ok"), (20, "soon", "ok"), (150, "overdue", "ok"), (19 * 60, "overdue", "soon")],
)
def test_the_board_colours_deadlines_as_the_room_does(
    client, session, recall, frozen_clock, minutes, respond, resolve
):
    frozen_clock.advance(timedelta(minutes=minutes))
    sign_in(client, session)
    board = _board_clocks(client.get("/").text, recall.number)
    room = _room_clocks(client.get(f"/incidents/{recall.id}").text)
    assert board == room == {"Respond": respond, "Resolve": resolve}


def test_a_met_response_is_shown_done(client, session, recall, frozen_clock):
    incident_service.transition(
        session,
        incident=recall,
        actor=make_user(session, Role.duty_manager),
        change=StatusChange(status=IncidentStatus.active),
    )
    frozen_clock.advance(timedelta(hours=2))
    sign_in(client, session)
    page = client.get("/").text
    assert _board_clocks(page, recall.number) == {"Respond": "done", "Resolve": "ok"}
    assert "countdown countdown-done" in page


def _fits_sideways(page) -> None:
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('.board-scroll')]"
        ".map((box) => box.scrollWidth - box.clientWidth)"
    )
    assert overflow and max(overflow) <= 0, f"a board table overflows by {overflow} px"


# --- in a browser ---------------------------------------------------------------------------


def _roster_of(session, incident) -> list[tuple[str, int, str]]:
    """(role, slot, the holder's display name) of every seat the declaration filled."""
    seats = incident_service.current_roster(session, incident=incident)
    assert seats and all(seat.user_id is not None for seat in seats)
    return [
        (seat.role_key, seat.slot, session.get_one(User, seat.user_id).display_name)
        for seat in seats
    ]


@needs_chromium
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_duty_manager_declares_a_recall_from_the_board(
    live_server, shipped_playbooks, tmp_path, locale, frozen_clock
):
    with db.session_scope() as session:
        make_playbook_teams(session, shipped_playbooks.get("product-recall").playbook)
        make_incident(
            session,
            registry=shipped_playbooks,
            playbook="natural-disaster",
            scope=Scope(regions=["Fujian"]),
            title="台风演练 / Typhoon drill",
            drill=True,
        )
        duty = make_user(
            session, Role.duty_manager, password=PASSWORD, locale=locale, timezone="Asia/Shanghai"
        )
        username = duty.username
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, username)
        page.click("a[href='/declare']")
        page.wait_for_url("**/declare")
        page.check("input[name=severity][value='product-recall:sev1']")  # picks its playbook
        assert page.is_checked("input[name=playbook][value='product-recall']")
        page.fill("#title", "PX-300 充电器起火")
        page.fill("#batches_other", "B12, B13")
        shot(page, tmp_path, f"declare-{locale}-1280")
        page.click(".declare-form button[type=submit]")
        page.wait_for_url(re.compile(r"/incidents/\d+$"))
        incident_id = int(page.url.rsplit("/", 1)[1])
        with db.session_scope() as session:
            incident = session.get(Incident, incident_id)
            assert incident is not None and incident.scope["batches"] == ["B12", "B13"]
            number = incident.number
            seats = _roster_of(session, incident)
            paged = {page.role_key for page in pages_of(session, incident=incident)}
        # The room it lands in shows the roster: every seat with its person and its page.
        rows = page.locator("#room-roster tbody tr")
        expect(rows).to_have_count(len(seats))
        for role, slot, person in seats:
            row = page.locator(f"#room-roster tr[data-role='{role}'][data-slot='{slot}']")
            expect(row).to_contain_text(person)
            if role in paged:
                expect(row.locator(".badge.page-open")).to_be_visible()
        assert {"commander", "deputy"} <= paged
        shot(page, tmp_path, f"declared-room-{locale}-1280")
        page.goto(f"{live_server}/")
        row = page.locator(f"#incidents tr[data-number='{number}']")
        assert "PX-300 充电器起火" in row.inner_text()
        assert page.locator("#drill-incidents tbody tr").count() == 1
        shot(page, tmp_path, f"board-{locale}-1280")
        _fits_sideways(page)
        # Hours later every clock is overdue and at its widest: the tables still fit.
        frozen_clock.advance(timedelta(hours=2, minutes=50))
        page.reload()
        expect(row.locator(".clock.deadline-overdue")).to_have_count(1)
        _fits_sideways(page)
        shot(page, tmp_path, f"board-{locale}-1280-overdue")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        browser_login(phone, live_server, username)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        shot(phone, tmp_path, f"board-{locale}-390")


@needs_chromium
def test_a_duty_manager_reviews_a_complaint_cluster(live_server, shipped_playbooks, tmp_path):
    with db.session_scope() as session:
        for _ in range(20):
            make_ticket(
                session,
                registry=shipped_playbooks,
                description=QUALITY,
                product_model="PX-200",
                batch="B9",
            )
        [signal] = session.exec(select(Signal)).all()
        signal_id = signal.id
        duty = make_user(session, Role.duty_manager, password=PASSWORD, timezone="Asia/Shanghai")
        username = duty.username
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, username)
        page.click(f"a[href='/signals/{signal_id}']")
        page.wait_for_selector("#signal-chart svg")  # ECharts drew under the CSP
        assert page.locator("#evidence tbody tr").count() == 20
        shot(page, tmp_path, "signal-zh-CN-1280")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        browser_login(phone, live_server, username)
        phone.goto(f"{live_server}/signals/{signal_id}")
        phone.wait_for_selector("#signal-chart svg")
        shot(phone, tmp_path, "signal-zh-CN-390")
