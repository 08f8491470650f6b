"""The quarterly review meeting page (/reviews/quarterly) in Chromium: reached from the
header, its trends drawn as ECharts lines, the tables under them, in Chinese and English at
desk and phone widths, and the quarter's PDF drawn as a picture."""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.i18n import Locale
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.postmortems import flows as postmortem_flows
from incident_cmd.postmortems.models import Section
from incident_cmd.web import reports
from tests.factories import make_incident
from tests.plugins.web import PASSWORD, SHOTS, browser_login, chromium, needs_chromium, shot


@needs_chromium
def test_the_quarterly_page_in_chromium(world, live_server, frozen_clock, tmp_path):
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        # One incident a month, resolved after 2, 5 and 3 hours; two name the same cause.
        for month, hours, title, causes in (
            (10, 2, "PX-200 电池过热召回", "#供应商来料"),
            (11, 5, "RC-10 电饭煲批量投诉", "#供应商来料 #包装"),
            (12, 3, "400 热线中断", "#线路"),
        ):
            frozen_clock.set(datetime(2026, month, 12, 2, 0, tzinfo=UTC))
            incident = make_incident(session, registry=world.registry, title=title, actor=duty)
            frozen_clock.advance(timedelta(hours=hours))
            incident_flows.transition(
                session,
                incident=incident,
                change=StatusChange(status=IncidentStatus.resolved),
                actor=duty,
            )
            postmortem_flows.edit_section(
                session, incident_id=incident.id, section=Section.causes, text=causes, actor=duty
            )
    frozen_clock.set(datetime(2026, 12, 20, 2, 0, tzinfo=UTC))
    quarterly = f"{live_server}/reviews/quarterly"
    for locale, width in (("en", 1280), ("en", 390), ("zh-CN", 1280), ("zh-CN", 390)):
        with db.session_scope() as session:
            auth_service.update_user(
                session,
                user=world.user(session, world.duty_manager),
                data=UserUpdate(locale=locale),
                actor_id=None,
            )
        with chromium() as browser:
            page = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
            browser_login(page, live_server, world.duty_manager)
            page.goto(live_server)
            page.click('.site-nav a[href="/reviews/quarterly"]')
            page.wait_for_url(quarterly)
            assert "2026-Q4" in page.inner_text("h1")
            # Each of the three charts drew its lines (ECharts' SVG paths).
            for key in ("times", "resolution", "rates"):
                page.wait_for_selector(f"#chart-{key} svg path", state="attached")
                assert page.locator(f"#chart-{key} svg path").count() > 3
            trend = page.locator("#trends tbody tr").first.inner_text()
            assert trend.split()[-3:] == ["1", "1", "1"], trend
            # One kind, three cause tags.
            assert page.locator("#causes tbody tr").count() == 4
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{locale} {width}: the page scrolls sideways by {overflow}px"
            shot(page, tmp_path, f"review-reports-quarterly-{locale}-{width}")
    if reports.report_font() is not None and shutil.which("pdftoppm"):
        with db.session_scope() as session:
            data = postmortem_flows.quarterly(session, quarter="2026-Q4")
        playbooks = {loaded.playbook.key: loaded.playbook for loaded in world.registry.all()}
        pdf = reports.as_pdf(
            reports.quarterly_report(data=data, playbooks=playbooks, locale=Locale.zh_CN)
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "review-reports-quarterly.pdf").write_bytes(pdf)
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-singlefile",
                str(SHOTS / "review-reports-quarterly.pdf"),
                str(SHOTS / "review-reports-quarterly-pdf-zh-CN"),
            ],
            check=True,
        )
