"""The review page (/incidents/{id}/review): reached from the incident room once the
incident is resolved; its forms write the sections, tick the checklist, add and finish
follow-ups, approve and close, each refusal shown next to its form with nothing changed; in
Chinese and English, at desk and phone widths, in Chromium."""

from datetime import date

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.postmortems import flows as postmortem_flows
from incident_cmd.postmortems.models import Section
from incident_cmd.postmortems.schemas import FollowUpCreate
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_incident, make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    login,
    needs_chromium,
    post_form,
    shot,
)


def _resolve(session, incident, duty) -> None:
    incident_flows.transition(
        session, incident=incident, change=StatusChange(status=IncidentStatus.resolved), actor=duty
    )
    session.flush()


def test_the_page_before_and_after_resolution(client, session, shipped_playbooks):
    duty = make_user(session, Role.duty_manager, password=PASSWORD, locale="en")
    incident = make_incident(session, registry=shipped_playbooks, actor=duty)
    assert login(client, duty.username).status_code == 303
    room = client.get(f"/incidents/{incident.id}").text
    assert f'href="/incidents/{incident.id}/review"' not in room
    before = client.get(f"/incidents/{incident.id}/review")
    assert (
        before.status_code == 200
        and "The review starts when the incident is resolved" in before.text
    )
    _resolve(session, incident, duty)
    room = client.get(f"/incidents/{incident.id}").text
    assert f'href="/incidents/{incident.id}/review"' in room
    page = client.get(f"/incidents/{incident.id}/review").text
    assert "Reconstruct the timeline and each response time" in page
    assert "Time to detect" in page and "Closing the incident waits for:" in page
    assert "Checklist items not done: Reconstruct the timeline" in page
    # Closing too early is refused next to the approval form, the incident unchanged.
    path = f"/incidents/{incident.id}/review"
    refused = post_form(client, f"{path}/close", {}, path)
    assert refused.status_code == 409
    assert 'data-form="approval"' in refused.text and "cannot be closed" in refused.text
    session.refresh(incident)
    assert incident.status == IncidentStatus.in_review
    # A follow-up due yesterday is refused, next to its form, and none is made.
    late = post_form(
        client,
        f"{path}/followups",
        {"title": "Fuse", "owner": duty.username, "due_on": "2026-11-22"},
        path,
    )
    assert late.status_code == 400 and 'data-form="followup"' in late.text
    assert "due_on 2026-11-22 is before today" in late.text
    made = post_form(
        client,
        f"{path}/followups",
        {"title": "Fit a thermal fuse", "owner": duty.username, "due_on": "2026-11-30"},
        path,
    )
    assert made.status_code == 303
    assert "Fit a thermal fuse" in client.get(path).text


def test_a_viewer_reads_without_forms(client, session, shipped_playbooks):
    duty = make_user(session, Role.duty_manager)
    incident = make_incident(session, registry=shipped_playbooks, actor=duty)
    _resolve(session, incident, duty)
    viewer = make_user(session, Role.viewer, password=PASSWORD, locale="zh-CN")
    assert login(client, viewer.username).status_code == 303
    page = client.get(f"/incidents/{incident.id}/review").text
    assert "问题复盘" in page and "<textarea" not in page and "/approve" not in page
    path = f"/incidents/{incident.id}/review"
    refused = post_form(client, f"{path}/sections/summary", {"text": "x"}, path)
    assert refused.status_code == 403
    assert (
        postmortem_flows.review_read(session, incident_id=incident.id, locale="en").sections[
            Section.summary
        ]
        == ""
    )


@needs_chromium
def test_the_review_page_in_chromium(world, live_server, tmp_path):
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        incident = make_incident(
            session, registry=world.registry, title="PX-200 battery overheating", actor=duty
        )
        declared = session.exec(
            select(TimelineEvent).where(
                TimelineEvent.subject_id == incident.id, TimelineEvent.kind == "incident.declared"
            )
        ).one()
        timeline.star(session, event=declared, actor_id=duty.id)
        _resolve(session, incident, duty)
        postmortem_flows.edit_section(
            session,
            incident_id=incident.id,
            section=Section.summary,
            text="Batch B7 battery cells overheated; 3 customers hurt.",
            actor=duty,
        )
        postmortem_flows.add_followup(
            session,
            incident_id=incident.id,
            data=FollowUpCreate(
                title="Add a thermal fuse to the PX-200",
                owner=duty.username,
                due_on=date(2026, 12, 4),
            ),
            actor=duty,
        )
        incident_id = incident.id
    review = f"{live_server}/incidents/{incident_id}/review"
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
            page.goto(f"{live_server}/incidents/{incident_id}")
            page.click(f'a[href="/incidents/{incident_id}/review"]')
            page.wait_for_url(review)
            assert page.locator("#checklist tbody tr").count() == 5
            assert page.locator("#starred li").count() == 1
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{locale} {width}: the page scrolls sideways by {overflow}px"
            shot(page, tmp_path, f"review-{locale}-{width}")
    # The whole way to closing, in English at desk width.
    with db.session_scope() as session:
        auth_service.update_user(
            session,
            user=world.user(session, world.duty_manager),
            data=UserUpdate(locale="en"),
            actor_id=None,
        )
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, world.duty_manager)
        page.goto(review)
        page.fill("#section-causes textarea", "A supplier changed the cell chemistry.")
        page.click("#section-causes button[type=submit]")
        page.wait_for_url(f"{review}#section-causes")
        assert (
            page.input_value("#section-causes textarea") == "A supplier changed the cell chemistry."
        )
        while page.locator("#checklist button[type=submit]").count():
            page.locator("#checklist button[type=submit]").first.click()
            page.wait_for_load_state()
        page.click("#followups tbody button[type=submit]")
        page.wait_for_load_state()
        page.click("#approval form[action$='/approve'] button[type=submit]")
        page.wait_for_load_state()
        assert "Approved by" in page.inner_text("#approval")
        page.click("#approval form[action$='/close'] button[type=submit]")
        page.wait_for_load_state()
        assert page.locator(".badge.status-closed").count() == 1
        assert page.locator("textarea").count() == 0
    with db.session_scope() as session:
        closed = incident_service.get_incident(session, incident_id=incident_id)
        assert closed.status == IncidentStatus.closed
