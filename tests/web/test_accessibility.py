"""Labels and keyboards, in Chromium: on every command-center page, as the people who use it,
each field has an accessible label and each button and link an accessible name; on every main
staff page Tab reaches every control a person can see and use; the room's main action (an
internal update) and the ticket's (acknowledging it) are done with the keyboard alone, Tab and
Enter, no clicks."""

import json
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from incident_cmd import clock, db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.paging import links
from incident_cmd.paging.models import Page, PageTarget
from incident_cmd.teams import service as team_service
from incident_cmd.teams.schemas import OverrideCreate
from incident_cmd.tickets.models import Signal, Ticket, TicketStatus
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_customer, make_team, make_ticket, make_user
from tests.plugins.web import PASSWORD, UNNAMED, browser_login, chromium, needs_chromium


@dataclass(frozen=True)
class Org:
    incident_id: int
    ticket_id: int
    customer_id: int
    duty: str
    agent: str
    admin: str


def _org(world) -> Org:
    incident_id = world.declare_recall()
    with db.session_scope() as session:
        customer = make_customer(session, name="王女士", purchases=(("PX-200", "B7"),))
        ticket = make_ticket(
            session,
            registry=world.registry,
            description="充电时电池发烫",
            product_model="PX-200",
            batch="B7",
        )
        agent = auth_service.get_user(session, user_id=ticket.assignee_id)
        admin = make_user(session, Role.admin)
        duty = world.user(session, world.duty_manager)
        for person in (agent, admin, duty):
            auth_service.set_password(session, user=person, password=PASSWORD, actor_id=None)
        return Org(
            incident_id, ticket.id, customer.id, duty.username, agent.username, admin.username
        )


def _signed_in(browser, base_url, username):
    page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
    browser_login(page, base_url, username)
    return page


def _tab_to(page, selector: str, limit: int = 400) -> None:
    """Presses Tab until the focused element matches ``selector``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


@needs_chromium
def test_every_field_is_labelled_and_every_control_named(world, live_server):
    org = _org(world)
    pages = {
        org.duty: [
            "/",
            "/declare",
            f"/incidents/{org.incident_id}",
            "/customers",
            f"/customers/{org.customer_id}",
        ],
        org.agent: ["/tickets", f"/tickets/{org.ticket_id}", "/tickets/new"],
        org.admin: [
            "/admin",
            f"/admin/users/{org.agent}",
            "/admin/on-call",
            "/admin/playbooks",
        ],
    }
    problems = {}
    with chromium() as browser:
        # The check itself finds what it looks for.
        probe = _signed_in(browser, live_server, org.duty)
        probe.evaluate(
            """() => document.querySelector("main").insertAdjacentHTML("beforeend",
            '<input name=x><label> <select name=y><option>text</option></select></label>'
            + '<button><span aria-hidden=true>★</span></button><a href=/>  </a>')"""
        )
        assert len(probe.evaluate(UNNAMED)) == 4
        probe.close()
        for username, paths in pages.items():
            page = _signed_in(browser, live_server, username)
            for path in paths:
                answer = page.goto(f"{live_server}{path}")
                assert answer is not None and answer.status == 200, path
                found = page.evaluate(UNNAMED)
                if found:
                    problems[path] = found
            page.close()
    assert problems == {}


@needs_chromium
def test_an_internal_update_is_posted_with_the_keyboard_alone(world, live_server):
    org = _org(world)
    with chromium() as browser:
        page = _signed_in(browser, live_server, org.duty)
        page.goto(f"{live_server}/incidents/{org.incident_id}")
        box = "details:has(form[data-form=update-internal])"
        _tab_to(page, f"{box} > summary")
        page.keyboard.press("Enter")
        assert page.evaluate(f"document.querySelector('{box}').open")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == "body"
        page.keyboard.type("Warehouse B7 frozen, by keyboard")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.type") == "submit"
        page.keyboard.press("Enter")
        page.wait_for_selector("#room-timeline >> text=Warehouse B7 frozen, by keyboard")
    with db.session_scope() as session:
        posted = session.exec(
            select(TimelineEvent).where(
                TimelineEvent.subject_id == org.incident_id,
                TimelineEvent.kind == "update.internal",
            )
        ).one()
        assert posted.summary == "Warehouse B7 frozen, by keyboard"


@needs_chromium
def test_a_ticket_is_acknowledged_with_the_keyboard_alone(world, live_server):
    org = _org(world)
    with chromium() as browser:
        page = _signed_in(browser, live_server, org.agent)
        page.goto(f"{live_server}/tickets/{org.ticket_id}")
        _tab_to(page, "form#status button[value=acknowledged]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        # Acknowledged: the button to do it is gone (what comes next depends on the request).
        page.wait_for_selector("form#status button[value=acknowledged]", state="detached")
    with db.session_scope() as session:
        ticket = session.get(Ticket, org.ticket_id)
        assert ticket is not None and ticket.status == TicketStatus.acknowledged


# --- every control reached with Tab -------------------------------------------------------

# Marks what Tab focuses, by its place in the document (a live refresh may replace the node
# itself with an identical one), from the moment it is (re)started.
WATCH_FOCUS = """
() => {
  const place = (element) => {
    const steps = [];
    for (let node = element; node && node !== document.body; node = node.parentElement) {
      steps.unshift(node.tagName + ":" + Array.prototype.indexOf.call(node.parentElement.children, node));
    }
    return steps.join("/");
  };
  window.__place = place;
  window.__focused = new Set();
  window.__order = [];
  if (!window.__watching) {
    window.__watching = true;
    document.addEventListener("focusin", (event) => {
      const key = place(event.target);
      window.__focused.add(key);
      window.__order.push(key);
    }, true);
  }
}
"""

# Tab has gone round: the first control it focused has been focused again after others.
WENT_ROUND = """
() => window.__order.length > 2 && window.__order.lastIndexOf(window.__order[0]) > 0
"""

# Every control a person can see and use, as a link, button, field, disclosure or an element
# made clickable (by htmx, a click handler or role=button) or focusable (tabindex >= 0) — and
# those of them Tab never focused. A radio group is one stop for Tab: one of its buttons will do.
UNREACHED = """
() => {
  // Inside a closed <details> only its summary shows (the rest keeps its boxes in Chromium).
  const folded = (element) => {
    const box = element.closest("details:not([open])");
    return box !== null && element.parentElement !== box;
  };
  const shown = (element) => element.checkVisibility({visibilityProperty: true})
    && !folded(element) && !element.closest("[inert]");
  const controls = Array.from(document.querySelectorAll([
    "a[href]", "button", "input:not([type=hidden])", "select", "textarea",
    "details > summary:first-of-type", "[tabindex]", "[role=button]", "[onclick]",
    "[hx-get]:not(form):not(input):not(select):not([hx-trigger])",
    "[hx-post]:not(form):not(input):not(select):not([hx-trigger])",
    "[hx-trigger*=click]",
  ].join(","))).filter((element) => shown(element) && !element.matches(":disabled"))
    .filter((element) => !(element.hasAttribute("tabindex") && element.tabIndex < 0
      && !element.matches("a[href], button, input, select, textarea, summary")));
  const reached = (element) => window.__focused.has(window.__place(element));
  const radios = {};
  const missed = [];
  for (const control of controls) {
    if (control.matches("input[type=radio]")) {
      const group = (control.form ? control.form.action : "") + "|" + control.name;
      radios[group] = radios[group] || [];
      radios[group].push(control);
    } else if (!reached(control)) {
      missed.push(control.outerHTML.slice(0, 160));
    }
  }
  for (const group of Object.values(radios)) {
    if (!group.some(reached)) missed.push(group[0].outerHTML.slice(0, 160));
  }
  return {controls: controls.length, missed: missed};
}
"""


def _tab_round(page, limit: int = 2000) -> dict:
    """Presses Tab from the top of the page until focus has gone round once, then says what
    it never reached."""
    page.evaluate(WATCH_FOCUS)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if presses % 10 == 0 and page.evaluate(WENT_ROUND):
            break
    else:
        raise AssertionError(f"{page.url}: Tab never came round in {limit} presses")
    return page.evaluate(UNREACHED)


@dataclass(frozen=True)
class StaffPages:
    """Every main staff page's path, by the username of someone allowed to read it, and the
    paged person's answer link, read by nobody signed in."""

    by_reader: dict[str, list[str]]
    answer_link: str


def _staff_pages(world) -> StaffPages:
    org = _org(world)
    sms_campaign = world.campaign_for(org.incident_id, "recall_sms")
    with db.session_scope() as session:
        for _ in range(20):
            make_ticket(
                session,
                registry=world.registry,
                description="PX-200 冒烟",
                product_model="PX-200",
                batch="B9",
            )
        signal_id = session.exec(select(Signal.id)).one()
        target = session.exec(
            select(PageTarget)
            .join(Page, col(Page.id) == PageTarget.page_id)
            .where(Page.incident_id == org.incident_id)
            .order_by(col(PageTarget.id))
        ).first()
        assert target is not None
        answer_link = f"/page/{links.ack_token(target)}"
        # The on-call page with all its forms: a team, a rotation and a swap.
        people = [make_user(session, Role.responder) for _ in range(2)]
        team = make_team(session, key="keyboard-desk", rotations={"primary": people})
        team_service.add_override(
            session,
            team=team,
            rotation_name="primary",
            data=OverrideCreate(
                user=people[1].username,
                starts_at=clock.now() + timedelta(days=1),
                ends_at=clock.now() + timedelta(days=2),
            ),
            actor_id=None,
        )
    return StaffPages(
        by_reader={
            org.duty: [
                "/",
                "/declare",
                f"/incidents/{org.incident_id}",
                f"/signals/{signal_id}",
                f"/campaigns/{sms_campaign}",
                "/customers",
                f"/customers/{org.customer_id}",
            ],
            org.agent: ["/tickets", f"/tickets/{org.ticket_id}", "/tickets/new"],
            org.admin: [
                "/admin",
                f"/admin/users/{org.agent}",
                "/admin/on-call",
                "/admin/playbooks",
            ],
        },
        answer_link=answer_link,
    )


@needs_chromium
def test_tab_reaches_every_control_of_every_staff_page(world, live_server):
    pages = _staff_pages(world)
    unreached: dict[str, list[str]] = {}
    unlabelled: dict[str, list[str]] = {}

    def check(page, path: str) -> None:
        answer = page.goto(f"{live_server}{path}")
        assert answer is not None and answer.status == 200, path
        # Every disclosure open, as Enter on its summary opens it: what is folded away must be
        # reachable once shown, and the summaries stay in the Tab order.
        page.evaluate(
            "() => document.querySelectorAll('details').forEach((d) => { d.open = true; })"
        )
        found = _tab_round(page)
        assert found["controls"] > 0, path
        if found["missed"]:
            unreached[path] = found["missed"]
        if problems := page.evaluate(UNNAMED):
            unlabelled[path] = problems

    with chromium() as browser:
        # The check itself finds what it looks for: a clickable div and a button Tab skips.
        probe = browser.new_page(viewport={"width": 1280, "height": 900})
        probe.goto(f"{live_server}/login")
        probe.evaluate(
            """() => document.querySelector("main").insertAdjacentHTML("beforeend",
            '<div hx-post="/x">Send</div><button tabindex="-1">Hidden from Tab</button>')"""
        )
        assert len(_tab_round(probe)["missed"]) == 2
        probe.close()
        for username, paths in pages.by_reader.items():
            context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            browser_login(page, live_server, username)
            for path in paths:
                check(page, path)
            context.close()
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        check(context.new_page(), pages.answer_link)
        context.close()
    assert unreached == {}, json.dumps(unreached, indent=1, ensure_ascii=False)
    assert unlabelled == {}, json.dumps(unlabelled, indent=1, ensure_ascii=False)
