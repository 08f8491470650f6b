"""A responder paged for a recall answers on their phone: the signed link in the page opens the
answer page, a tap acknowledges, and the page leads into the incident room, where their seat
shows the page acknowledged. In Chromium at 390 x 844, as a touch screen."""

from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.paging import links
from incident_cmd.paging.models import Page, PageStatus, PageTarget
from tests.plugins.web import PASSWORD, chromium, needs_chromium, shot

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


def _commanders_link(incident_id: int) -> tuple[str, str]:
    """The commander's username (who can now log in, reading Chinese) and their page link."""
    with db.session_scope() as session:
        page = session.exec(
            select(Page).where(Page.incident_id == incident_id, Page.role_key == "commander")
        ).one()
        target = session.exec(
            select(PageTarget).where(PageTarget.page_id == page.id).order_by(col(PageTarget.id))
        ).first()
        assert target is not None
        person = auth_service.get_user(session, user_id=target.user_id)
        auth_service.set_password(session, user=person, password=PASSWORD, actor_id=None)
        auth_service.update_user(
            session, user=person, data=UserUpdate(locale="zh-CN"), actor_id=None
        )
        return person.username, f"/page/{links.ack_token(target)}"


def _commanders_page(incident_id: int) -> PageStatus:
    with db.session_scope() as session:
        return session.exec(
            select(Page.status).where(Page.incident_id == incident_id, Page.role_key == "commander")
        ).one()


@needs_chromium
def test_a_responder_acknowledges_through_the_link_on_a_phone(world, live_server, tmp_path):
    incident_id = world.declare_recall()
    username, link = _commanders_link(incident_id)

    with chromium() as browser:
        phone = browser.new_page(locale="zh-CN", **PHONE)
        phone.goto(f"{live_server}{link}")
        # Opening the link changes nothing: a mail scanner may have opened it first.
        assert _commanders_page(incident_id) == PageStatus.open
        assert "总指挥" in phone.inner_text("main")  # paged as commander, in their language
        shot(phone, tmp_path, "page-answer-link")

        phone.tap("button[value=acknowledge]")
        confirmation = phone.wait_for_selector("p.notice[role=status]")
        assert confirmation.inner_text()
        assert phone.query_selector("button[value=acknowledge]") is None
        assert _commanders_page(incident_id) == PageStatus.acknowledged
        room_link = phone.get_by_role("link", name="进入事件指挥室")
        assert room_link.is_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the answer page scrolls sideways ({width}px)"
        shot(phone, tmp_path, "page-answer-acknowledged")

        room_link.tap()
        # Not signed in on this phone: the login page, which leads on into the room.
        phone.wait_for_url(f"{live_server}/login?next=%2Fincidents%2F{incident_id}")
        phone.fill("input[name=username]", username)
        phone.fill("input[name=password]", PASSWORD)
        phone.tap("form[action='/login'] button[type=submit]")
        phone.wait_for_url(lambda url: "/login" not in url)
        assert phone.url == f"{live_server}/incidents/{incident_id}"
        seat = phone.wait_for_selector("#room-roster tr[data-role=commander][data-slot='0']")
        assert username in seat.inner_text()
        badge = seat.query_selector(".badge.page-acknowledged")
        assert badge is not None and badge.is_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the room scrolls sideways ({width}px)"
        # What the phone shows: the room's top and the commander's seat just under it.
        shot(phone, tmp_path, "page-answer-room", full_page=False)
