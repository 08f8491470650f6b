"""A drill's evaluation in Chromium: the duty manager rates an objective, writes at the hot
wash and adds an improvement plan item on the after-action report, which lists it with the
objectives' results; every page fits desk and phone widths in both languages."""

from datetime import timedelta

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.drills import flows
from tests.plugins.drills import acknowledge_commander
from tests.plugins.web import PASSWORD, browser_login, chromium, needs_chromium, shot

MINUTE = timedelta(minutes=1)


def _locale(world, locale: str) -> None:
    with db.session_scope() as session:
        auth_service.update_user(
            session,
            user=world.user(session, world.duty_manager),
            data=UserUpdate(locale=locale),
            actor_id=None,
        )


@needs_chromium
def test_the_evaluation_and_the_after_action_report_in_chromium(
    world, drills, live_server, tmp_path, frozen_clock
):
    run_id = drills.start("battery-recall")
    frozen_clock.advance(2 * MINUTE)
    drills.sweep()
    acknowledge_commander(drills.run(run_id).incident_id)
    frozen_clock.advance(20 * MINUTE)
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        flows.end(session, run_id=run_id, actor=duty)
    _locale(world, "en")
    base = f"{live_server}/drills/{run_id}"
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, world.duty_manager)
        page.goto(base)
        page.click("nav.tabs a[href$='/evaluation']")
        page.wait_for_url(lambda url: url.endswith("/evaluation"))
        objective = page.locator(".drill-objective[data-objective=commander_ack]")
        assert objective.get_attribute("data-result") == "met"
        objective.locator("input[name=rating][value=S]").check()
        objective.locator("textarea[name=notes]").fill("Answered, but asked twice for the number")
        objective.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "S: performed with some challenges" in page.inner_text(
            ".drill-objective[data-objective=commander_ack] .drill-ratings"
        )
        page.click("nav.tabs a[href$='/hotwash']")
        page.wait_for_url(lambda url: url.endswith("/hotwash"))
        page.check("input[name=kind][value=strength]")
        page.fill("textarea[name=text]", "The commander took charge at once")
        page.click(".drill-note-form button[type=submit]")
        page.wait_for_load_state()
        assert "The commander took charge at once" in page.inner_text(
            ".drill-notes[data-kind=strength]"
        )
        page.click("nav.tabs a[href$='/aar']")
        page.wait_for_url(lambda url: url.endswith("/aar"))
        page.fill("input[name=title]", "Rehearse the holding statement with the comms lead")
        page.fill("input[name=owner]", world.comms)
        page.fill("input[name=due_on]", "2026-12-15")
        page.select_option("select[name=objective]", "holding_statement")
        page.click(".drill-plan-form button[type=submit]")
        page.wait_for_load_state()
        plan = page.inner_text("#plan")
        assert "Rehearse the holding statement" in plan and world.comms in plan
        objectives = page.inner_text("#objectives")
        assert "Met" in objectives and "Missed" in objectives
        assert "The commander took charge at once" in page.inner_text("#strengths")
        assert page.locator(f"a[href='/drills/{run_id}/aar.pdf?lang=zh-CN']").count() == 1
    for locale, width in (("en", 1280), ("en", 390), ("zh-CN", 1280), ("zh-CN", 390)):
        _locale(world, locale)
        with chromium() as browser:
            page = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
            browser_login(page, live_server, world.duty_manager)
            for suffix in ("evaluation", "hotwash", "aar"):
                page.goto(f"{base}/{suffix}")
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                shot(page, tmp_path, f"drill-evaluation-{suffix}-{locale}-{width}")
                assert overflow <= 0, f"{locale} {width} {suffix}: scrolls sideways by {overflow}"
