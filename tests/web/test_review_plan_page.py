"""The review page's meeting, plan revisions and drill requests: the textarea starts from the
playbook file as it is, a refused proposal is shown with its line and field and the text kept
for correcting, an accepted one is shown as a diff; the meeting refused outside its window
next to its form; in Chinese and English, at desk and phone widths, in Chromium."""

from datetime import date

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.postmortems import flows as postmortem_flows
from incident_cmd.postmortems.models import DrillRequest, PlanRevision
from incident_cmd.postmortems.schemas import DrillRequestCreate, PlanRevisionCreate
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


def test_proposing_a_revision_and_a_drill_from_the_page(client, session, shipped_playbooks):
    duty = make_user(session, Role.duty_manager, password=PASSWORD, locale="en")
    incident = make_incident(session, registry=shipped_playbooks, actor=duty)
    _resolve(session, incident, duty)
    assert login(client, duty.username).status_code == 303
    path = f"/incidents/{incident.id}/review"
    page = client.get(path).text
    current = shipped_playbooks.get("product-recall").path.read_text(encoding="utf-8")
    # The textarea starts from the file (escaped as HTML).
    assert "key: product-recall" in page and "review_meeting_within: 3" in page
    assert "Held within 3 working days of the resolution: by 2026-11-26." in page
    broken = current.replace("review_meeting_within: 3", "review_meeting_within: none")
    refused = post_form(
        client,
        f"{path}/revisions",
        {"playbook": "product-recall", "finding": "Meet sooner", "text": broken},
        path,
    )
    assert refused.status_code == 400 and 'data-form="revision"' in refused.text
    line = broken.splitlines().index("review_meeting_within: none") + 1
    assert f"product-recall.yaml:{line}: review_meeting_within:" in refused.text
    # What the person wrote is given back to correct.
    assert "review_meeting_within: none" in refused.text and 'value="Meet sooner"' in refused.text
    assert session.exec(select(PlanRevision)).all() == []
    made = post_form(
        client,
        f"{path}/revisions",
        {
            "playbook": "product-recall",
            "finding": "Meet sooner",
            "text": current.replace("review_meeting_within: 3", "review_meeting_within: 2"),
        },
        path,
    )
    assert made.status_code == 303 and made.headers["location"].endswith("#revisions")
    page = client.get(path).text
    assert '<span class="diff-removed">-review_meeting_within: 3\n</span>' in page
    assert '<span class="diff-added">+review_meeting_within: 2\n</span>' in page
    revision = session.exec(select(PlanRevision)).one()
    accepted = post_form(client, f"{path}/revisions/{revision.id}/accept", {"note": ""}, path)
    assert accepted.status_code == 303
    drill = post_form(
        client,
        f"{path}/drill-requests",
        {
            "reason": "Rehearse the shorter window",
            "wanted_by": "2026-12-15",
            "revision": str(revision.id),
        },
        path,
    )
    assert drill.status_code == 303
    request = session.exec(select(DrillRequest)).one()
    assert request.revision_id == revision.id
    page = client.get(path).text
    assert "Rehearse the shorter window" in page and "Requested" in page


def test_the_meeting_form_refuses_a_day_outside_the_window(client, session, shipped_playbooks):
    duty = make_user(session, Role.duty_manager, password=PASSWORD, locale="zh-CN")
    incident = make_incident(session, registry=shipped_playbooks, actor=duty)
    _resolve(session, incident, duty)
    assert login(client, duty.username).status_code == 303
    path = f"/incidents/{incident.id}/review"
    # The form's time is on the duty manager's clock (Shanghai).
    refused = post_form(client, f"{path}/meeting", {"meeting_at": "2026-11-27T09:00"}, path)
    assert refused.status_code == 400 and 'data-form="meeting"' in refused.text
    assert "meeting_at" in refused.text and "outside the review meeting window" in refused.text
    accepted = post_form(client, f"{path}/meeting", {"meeting_at": "2026-11-26T17:30"}, path)
    assert accepted.status_code == 303
    page = client.get(path).text
    assert "定于 2026-11-26 17:30 CST" in page


@needs_chromium
def test_the_new_sections_in_chromium(world, live_server, tmp_path):
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        incident = make_incident(
            session, registry=world.registry, title="PX-200 battery overheating", actor=duty
        )
        _resolve(session, incident, duty)
        current = world.registry.get("product-recall").path.read_text(encoding="utf-8")
        revision = postmortem_flows.propose_revision(
            session,
            incident_id=incident.id,
            data=PlanRevisionCreate(
                playbook="product-recall",
                finding="The recall notice went out after the statement",
                text=current.replace("review_meeting_within: 3", "review_meeting_within: 2"),
            ),
            registry=world.registry,
            actor=duty,
        )
        postmortem_flows.decide_revision(
            session,
            incident_id=incident.id,
            revision_id=revision.id,
            accept=True,
            note="",
            actor=duty,
        )
        postmortem_flows.request_drill(
            session,
            incident_id=incident.id,
            data=DrillRequestCreate(
                reason="Rehearse the revised notice order",
                wanted_by=date(2026, 12, 15),
                revision=revision.id,
            ),
            registry=world.registry,
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
            page.goto(review)
            if locale == "en" and width == 1280:
                page.fill("#meeting input[name=meeting_at]", "2026-11-25T15:00")
                page.click("#meeting button[type=submit]")
                page.wait_for_url(f"{review}#meeting")
                assert "2026-11-25 15:00" in page.inner_text("#meeting")
            assert page.locator("#revisions .diff-added").count() == 1
            assert page.locator("#revisions .diff-removed").count() == 1
            assert page.locator("#drills tbody tr").count() == 1
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{locale} {width}: the page scrolls sideways by {overflow}px"
            page.locator("#meeting").scroll_into_view_if_needed()
            shot(page, tmp_path, f"plan-revision-review-{locale}-{width}")
