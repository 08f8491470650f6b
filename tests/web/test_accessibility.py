"""Labels and keyboards, in Chromium: on every command-center page, as the people who use it,
each field has an accessible label and each button and link an accessible name; the room's
main action (an internal update) and the ticket's (acknowledging it) are done with the keyboard
alone, Tab and Enter, no clicks."""

from dataclasses import dataclass

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.tickets.models import Ticket, TicketStatus
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_customer, make_ticket, make_user
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
