"""A responder in Chromium asks for a situation report from the incident room's link and reads
it, in both languages, on a laptop and on a phone."""

from playwright.sync_api import expect

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.i18n import Locale
from incident_cmd.incidents.schemas import Scope
from tests.factories import make_incident, make_ticket, make_user
from tests.plugins.web import PASSWORD, browser_login, chromium, needs_chromium, shot

WORDS = {
    Locale.zh_CN: ("立即生成并发送报告", "第 {n} 期报告", "指挥中心"),
    Locale.en: ("Compile a report now and send it", "Report {n}", "Command center"),
}


@needs_chromium
def test_a_responder_asks_for_a_report_and_reads_it(
    live_server, shipped_playbooks, frozen_clock, tmp_path
):
    with db.session_scope() as session:
        incident = make_incident(
            session,
            registry=shipped_playbooks,
            scope=Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"]),
            title="PX-200 充电器过热",
        )
        make_ticket(session, registry=shipped_playbooks, product_model="PX-200", batch="B7")
        people = {}
        for locale in WORDS:
            person = make_user(session, Role.responder, timezone="Asia/Shanghai")
            auth_service.set_password(session, user=person, password=PASSWORD, actor_id=None)
            person.locale = locale
            session.add(person)
            people[locale] = person.username
        incident_id = incident.id

    with chromium() as browser:
        for number, (locale, username) in enumerate(people.items(), start=1):
            ask, title, roster = WORDS[locale]
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.goto(f"{live_server}/incidents/{incident_id}")
            page.click(f"a[href='/incidents/{incident_id}/reports']")
            page.click(f"text={ask}")
            report = page.locator("article.sitrep")
            expect(report).to_be_visible()
            expect(report.locator("h2")).to_contain_text(title.format(n=number))
            assert page.url.endswith(f"/incidents/{incident_id}/reports/{number}")
            expect(report).to_contain_text(roster)
            shot(page, tmp_path, f"sitrep-{locale}-1280")
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            shot(page, tmp_path, f"sitrep-{locale}-390")
            page.close()
