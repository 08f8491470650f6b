"""The emailed survey's form in a browser, in each language at each width:
survey-{form,form-error,thanks}-{zh-CN,en}-{1280,390}.png."""

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.tickets import intake, lifecycle, surveys
from incident_cmd.tickets.models import Ticket
from incident_cmd.tickets.schemas import TicketCreate, TicketResolve
from tests.factories import make_service_desk
from tests.plugins.web import chromium, needs_chromium, shot

WORDS = {
    "zh-CN": ("请评价我们的服务", "请选择您的满意程度", "谢谢您"),
    "en": ("How did we do?", "Choose how satisfied you are", "Thank you"),
}


def _survey_path(registry, locale: str, serial: int) -> tuple[str, int]:
    with db.session_scope() as session:
        desk = make_service_desk(session)
        agent = auth_service.get_user_by_username(session, username=desk.agents[0])
        ticket = intake.take_in(
            session,
            data=TicketCreate(
                description="电饭煲不工作了",
                channel="email",
                email=f"survey{serial}@example.com",
                locale=locale,
            ),
            registry=registry,
            actor=agent,
        )
        session.flush()
        lifecycle.resolve(
            session, ticket=ticket, data=TicketResolve(resolution="已换新"), actor=agent
        )
        return f"/survey/{surveys.survey_token(ticket)}", ticket.id


@needs_chromium
def test_the_survey_form_in_chromium_in_each_language_at_each_width(
    live_server, shipped_playbooks, tmp_path
):
    serial = 0
    with chromium() as browser:
        for locale, (title, error, thanks) in WORDS.items():
            context = browser.new_context(locale=locale)
            page = context.new_page()
            for width in (1280, 390):
                serial += 1
                path, ticket_id = _survey_path(shipped_playbooks, locale, serial)
                page.set_viewport_size({"width": width, "height": 844})
                page.goto(f"{live_server}{path}")
                assert title in page.inner_text("h1")
                assert page.locator("input[name=nps]").count() == 11
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                shot(page, tmp_path, f"survey-form-{locale}-{width}")
                page.click("main form button[type=submit]")
                page.wait_for_load_state()
                assert error in page.inner_text("#csat-error")
                shot(page, tmp_path, f"survey-form-error-{locale}-{width}")
                page.check("input[name=csat][value='4']")
                page.check("input[name=nps][value='9']")
                page.fill("#survey-comment", "师傅很专业" if locale == "zh-CN" else "Quick, kind")
                page.click("main form button[type=submit]")
                page.wait_for_load_state()
                assert thanks in page.inner_text("h1")
                shot(page, tmp_path, f"survey-thanks-{locale}-{width}")
                with db.session_scope() as session:
                    ticket = session.get_one(Ticket, ticket_id)
                    assert (ticket.csat, ticket.nps) == (4, 9)
            context.close()
