"""The drill console in Chromium: a duty manager starts a drill from its scenario, sees what
is due with its countdown, sees an inject fired elsewhere appear live, fires an inject now,
pauses, resumes and ends it; the incident room shows the DRILL banner. Both languages, desk
and phone widths."""

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.drills import flows
from incident_cmd.drills import service as drill_service
from incident_cmd.drills.models import DrillRun
from incident_cmd.playbooks.service import PlaybookRegistry
from tests.factories import make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    csrf_token,
    login,
    needs_chromium,
    shot,
)


def _locale(world, locale: str) -> None:
    with db.session_scope() as session:
        auth_service.update_user(
            session,
            user=world.user(session, world.duty_manager),
            data=UserUpdate(locale=locale),
            actor_id=None,
        )


def test_only_controllers_start_drills(world, client_factory):
    with db.session_scope() as session:
        viewer = make_user(session, Role.viewer)
        auth_service.set_password(session, user=viewer, password=PASSWORD, actor_id=None)
        name = viewer.username
    client = client_factory()
    login(client, name)
    page = client.get("/drills")
    assert page.status_code == 200 and 'action="/drills"' not in page.text
    refused = client.post(
        "/drills",
        data={"scenario": "battery-recall", "csrf_token": csrf_token(client, "/drills")},
        headers={"Origin": "http://testserver"},
    )
    assert refused.status_code == 403
    with db.session_scope() as session:
        assert session.exec(select(DrillRun)).all() == []


@needs_chromium
def test_the_drill_console_in_chromium(world, live_server, tmp_path):
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
    _locale(world, "en")
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, world.duty_manager)
        page.goto(f"{live_server}/drills")
        assert page.locator(".drill-scenario").count() == 3
        page.click(".drill-scenario[data-scenario=typhoon-service-centre] button[type=submit]")
        page.wait_for_url(lambda url: "/drills/" in url)
        run_url = page.url
        assert page.locator("#due-heading + ol .drill-inject").count() == 3
        assert "in 1 min" in page.inner_text(".drill-inject[data-inject=staff_check]")
        # What happens elsewhere (another controller, the sweep firing an inject) shows on an
        # open console without reloading it.
        page.evaluate("window.consoleWatched = true")
        run_id = int(run_url.rstrip("/").rsplit("/", 1)[1])
        with db.session_scope() as session:
            flows.fire_now(
                session,
                playbooks=PlaybookRegistry.from_settings(),
                run=drill_service.get_run(session, run_id=run_id),
                key="staff_check",
                actor=world.user(session, world.duty_manager),
            )
        page.wait_for_selector("#fired-heading + ol .drill-inject[data-inject=staff_check]")
        assert page.locator("#due-heading + ol .drill-inject").count() == 2
        assert page.evaluate("window.consoleWatched") is True, "the console was reloaded"
        page.click(".drill-inject[data-inject=warehouse] button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("#fired-heading + ol .drill-inject").count() == 2
        assert "New facts" in page.inner_text("#done-heading + ol")
        page.click("form[action$='/pause'] button")
        page.wait_for_load_state()
        assert page.locator(".drill-banner .drill-state-paused").count() == 1
        page.click("form[action$='/resume'] button")
        page.wait_for_load_state()
        page.click("a[href^='/incidents/']")
        page.wait_for_load_state()
        assert "DRILL" in page.inner_text(".drill-banner")
        page.goto(run_url)
    for locale, width in (("en", 1280), ("en", 390), ("zh-CN", 1280), ("zh-CN", 390)):
        _locale(world, locale)
        with chromium() as browser:
            page = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
            browser_login(page, live_server, world.duty_manager)
            for path, name in ((run_url, "run"), (f"{live_server}/drills", "list")):
                page.goto(path)
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{locale} {width} {name}: scrolls sideways by {overflow}px"
                shot(page, tmp_path, f"drills-{name}-{locale}-{width}")
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        _locale(world, "en")
        browser_login(page, live_server, world.duty_manager)
        page.goto(run_url)
        page.click("form[action$='/end'] button")
        page.wait_for_load_state()
        assert page.locator(".drill-banner .drill-state-ended").count() == 1
        assert page.locator("form[action$='/pause']").count() == 0
