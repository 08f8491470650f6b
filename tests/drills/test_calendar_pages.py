"""The calendar and training pages: duty managers schedule, move, cancel and start drills and
turn a review's request into one; everyone else reads the calendar and their own record
only. In Chromium at desk and phone widths in both languages."""

from datetime import date, timedelta

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.drills import flows
from incident_cmd.drills.models import DrillRun, DrillSchedule, ScheduleState
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.postmortems import drill_requests as postmortem_drill_requests
from tests.factories import make_incident, make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    csrf_token,
    login,
    needs_chromium,
    shot,
)

ORIGIN = {"Origin": "http://testserver"}


def _person(role: Role) -> tuple[int, str]:
    with db.session_scope() as session:
        user = make_user(session, role)
        auth_service.set_password(session, user=user, password=PASSWORD, actor_id=None)
        return user.id, user.username


def _duty_client(world, client_factory):
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
    client = client_factory()
    login(client, world.duty_manager)
    return client


def _post(client, path: str, data: dict):
    return client.post(
        path,
        data={**data, "csrf_token": csrf_token(client, "/drills/calendar")},
        headers=ORIGIN,
        follow_redirects=False,
    )


def test_others_read_the_calendar_and_their_own_record_only(world, client_factory):
    _, viewer = _person(Role.responder)
    other_id, _ = _person(Role.responder)
    client = client_factory()
    login(client, viewer)
    page = client.get("/drills/calendar")
    assert page.status_code == 200 and 'action="/drills/calendar"' not in page.text
    refused = _post(
        client, "/drills/calendar", {"scenario": "battery-recall", "at": "2026-12-01T10:00"}
    )
    assert refused.status_code == 403
    own = client.get("/drills/training")
    assert own.status_code == 200 and f'data-person="{viewer}"' in own.text
    assert own.text.count("data-person=") == 1
    assert client.get(f"/drills/training?person={other_id}").status_code == 403
    with db.session_scope() as session:
        assert session.exec(select(DrillSchedule)).all() == []


def test_a_duty_manager_schedules_moves_and_starts_a_drill(world, client_factory):
    client = _duty_client(world, client_factory)
    person_id, _ = _person(Role.responder)
    bad = _post(client, "/drills/calendar", {"scenario": "battery-recall", "at": "next week"})
    assert bad.status_code == 400 and "at &#39;next week&#39; is not a date and time" in bad.text
    made = _post(
        client,
        "/drills/calendar",
        {"scenario": "battery-recall", "at": "2026-12-01T10:00", "participants": [str(person_id)]},
    )
    assert made.status_code == 303
    with db.session_scope() as session:
        (row,) = session.exec(select(DrillSchedule)).all()
        assert row.participants == [person_id] and row.controller_id is None
        schedule_id = row.id
    moved = _post(client, f"/drills/calendar/{schedule_id}/move", {"at": "2026-12-02T15:00"})
    assert moved.status_code == 303
    page = client.get("/drills/calendar")
    assert "2026-12-02 15:00" in page.text
    started = _post(client, f"/drills/calendar/{schedule_id}/start", {})
    assert started.status_code == 303 and started.headers["location"].startswith("/drills/")
    with db.session_scope() as session:
        row = session.get_one(DrillSchedule, schedule_id)
        assert row.state == ScheduleState.started
        assert f"/drills/{row.run_id}" == started.headers["location"]
    again = _post(client, f"/drills/calendar/{schedule_id}/cancel", {})
    assert again.status_code == 409


def _request(world) -> int:
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        incident = make_incident(session, registry=world.registry, actor=duty)
        incident_flows.transition(
            session,
            incident=incident,
            change=StatusChange(status=IncidentStatus.resolved),
            actor=duty,
        )
        return postmortem_drill_requests.request_drill(
            session,
            incident=incident,
            playbook_key="product-recall",
            reason="Rehearse the recall notice with the new approval step",
            wanted_by=date(2026, 12, 15),
            revision_id=None,
            actor=duty,
            may_edit=True,
        ).id


def _locale(world, locale: str) -> None:
    with db.session_scope() as session:
        auth_service.update_user(
            session,
            user=world.user(session, world.duty_manager),
            data=UserUpdate(locale=locale),
            actor_id=None,
        )


@needs_chromium
def test_the_calendar_in_chromium(world, live_server, tmp_path, frozen_clock):
    request_id = _request(world)
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        comms = world.user(session, world.comms)
        # A drill run in the past, so the record has something to show, and its ratings.
        past = flows.start(
            session, playbooks=world.registry, scenario_key="typhoon-service-centre", actor=duty
        ).id
        for objective, rating in (("commander_ack", "M"), ("disruption_notice", "P")):
            flows.rate(
                session, run_id=past, objective_key=objective, rating=rating, notes="", actor=duty
            )
    frozen_clock.advance(timedelta(days=1))
    with db.session_scope() as session:
        # The cadence's own drill of the delivery delay (a month ahead of 10 May 2027 it is not
        # yet due), scheduled by hand instead.
        flows.schedule_drill(
            session,
            playbooks=world.registry,
            scenario_key="delivery-delay",
            at=frozen_clock() + timedelta(days=20),
            controller=world.user(session, world.duty_manager),
            participants=[comms],
            actor=world.user(session, world.duty_manager),
        )
    _locale(world, "en")
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, world.duty_manager)
        page.goto(f"{live_server}/drills")
        page.click("a[href='/drills/calendar']")
        page.wait_for_url(lambda url: url.endswith("/drills/calendar"))
        assert page.locator("[data-request]").count() == 1
        item = page.locator(f"[data-request='{request_id}']")
        item.locator("input[name=at]").fill("2026-12-10T14:00")
        item.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("[data-request]").count() == 0
        assert page.locator("[data-schedule]").count() == 2
        assert "for drill request" in page.inner_text("[data-schedule]:has-text('2026-12-10')")
        with db.session_scope() as session:
            assert postmortem_drill_requests.open_drill_requests(session) == []
    for locale, width in (("en", 1280), ("en", 390), ("zh-CN", 1280), ("zh-CN", 390)):
        _locale(world, locale)
        with chromium() as browser:
            page = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
            browser_login(page, live_server, world.duty_manager)
            for path, name in (("/drills/calendar", "calendar"), ("/drills/training", "training")):
                page.goto(f"{live_server}{path}")
                if name == "training":
                    page.wait_for_selector(".training-chart svg")
                    # One kind's charts at a time; the picker shows another's.
                    assert page.locator("[data-kind-panel]:visible").count() == 1
                    page.select_option("#training-kind", "customer_notice_approved")
                    shown = page.locator("[data-kind-panel]:visible")
                    assert shown.get_attribute("data-kind-panel") == "customer_notice_approved"
                    page.wait_for_selector(
                        "[data-kind-panel=customer_notice_approved] [data-series=ratings] svg"
                    )
                    page.select_option("#training-kind", "commander_acknowledged")
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{locale} {width} {name}: scrolls sideways by {overflow}px"
                shot(page, tmp_path, f"drill-calendar-{name}-{locale}-{width}")
    with chromium() as browser:
        _locale(world, "en")
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, world.duty_manager)
        page.goto(f"{live_server}/drills/calendar")
        page.click("[data-schedule]:has-text('2026-12-10') form[action$='/start'] button")
        page.wait_for_url(lambda url: "/drills/" in url and "calendar" not in url)
        assert page.locator(".drill-banner").count() == 1
    with db.session_scope() as session:
        assert len(session.exec(select(DrillRun)).all()) == 2
