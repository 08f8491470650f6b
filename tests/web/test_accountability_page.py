"""The accountability page (/incidents/{id}/accountability): reached from the review page;
findings proposed, approved or ruled on, appealed and decided through its forms, each
refusal shown next to its form with nothing changed; the letter as a page and as Markdown;
a viewer sees that findings exist, not who or how much. In Chinese and English, at desk and
phone widths, in Chromium."""

from decimal import Decimal

from incident_cmd import db
from incident_cmd.accountability import flows
from incident_cmd.accountability.schemas import FindingCreate
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from tests.factories import make_incident, make_team, make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    login,
    needs_chromium,
    post_form,
    shot,
)


def _world(session, registry):
    duty = make_user(session, Role.duty_manager, password=PASSWORD, locale="en")
    ga = make_user(session, Role.responder, password=PASSWORD, locale="en")
    gm = make_user(session, Role.duty_manager, password=PASSWORD, locale="en")
    staff = make_user(session, Role.agent, password=PASSWORD, locale="en")
    make_team(session, key="general-affairs", name="综合部 General affairs", members=[ga])
    make_team(session, key="general-manager", name="总经理 General manager", members=[gm])
    incident = make_incident(session, registry=registry, title="PX-200 recall", actor=duty)
    incident_flows.transition(
        session, incident=incident, change=StatusChange(status=IncidentStatus.resolved), actor=duty
    )
    session.flush()
    return duty, ga, gm, staff, incident


def _propose(session, incident, duty, staff, amount, major=False, facts="Notices went out late."):
    return flows.propose(
        session,
        incident_id=incident.id,
        data=FindingCreate(
            people=[staff.username],
            departments=["general-affairs"],
            facts=facts,
            loss_amount=Decimal(12000),
            penalty_amount=Decimal(amount),
            penalty_kind="fine",
            major=major,
        ),
        actor=duty,
    )


def test_findings_proposed_and_approved_through_the_forms(client, session, shipped_playbooks):
    duty, ga, _, staff, incident = _world(session, shipped_playbooks)
    path = f"/incidents/{incident.id}/accountability"
    assert login(client, duty.username).status_code == 303
    review = client.get(f"/incidents/{incident.id}/review").text
    assert f'href="{path}"' in review
    made = post_form(
        client,
        f"{path}/findings",
        {
            "people": [staff.username],
            "departments": ["general-affairs"],
            "facts": "Notices went out <b>late</b>.",
            "loss_amount": "12000",
            "penalty_amount": "4999",
            "penalty_kind": "fine",
            "penalty_text": "",
        },
        path,
    )
    assert made.status_code == 303, made.text
    page = client.get(path).text
    assert "General affairs (综合部)" in page and "4,999.00 yuan" in page
    assert "&lt;b&gt;late&lt;/b&gt;" in page
    # Its proposer may not approve it: refused next to the finding, nothing changed.
    finding = flows.accountability_read(
        session, incident_id=incident.id, actor=duty, locale="en"
    ).findings[0]
    assert f"{path}/findings/{finding.id}/approve" not in page
    refused = post_form(client, f"{path}/findings/{finding.id}/approve", {}, path)
    assert refused.status_code == 403
    assert f'data-form="finding-{finding.id}"' in refused.text
    assert "nobody approves a penalty they proposed" in refused.text
    # A bad amount is refused next to the proposal form, naming the field.
    bad = post_form(
        client,
        f"{path}/findings",
        {
            "people": [staff.username],
            "facts": "x",
            "loss_amount": "lots",
            "penalty_amount": "1",
            "penalty_kind": "fine",
        },
        path,
    )
    assert bad.status_code == 400 and 'data-form="propose"' in bad.text
    assert "loss_amount" in bad.text
    # 综合部 approves it; the letter has a page and a Markdown download.
    client.cookies.clear()
    assert login(client, ga.username).status_code == 303
    assert f"{path}/findings/{finding.id}/approve" in client.get(path).text
    approved = post_form(client, f"{path}/findings/{finding.id}/approve", {"note": ""}, path)
    assert approved.status_code == 303
    letter = (
        flows.accountability_read(session, incident_id=incident.id, actor=ga, locale="en")
        .findings[0]
        .letters[0]
    )
    letter_path = f"{path}/findings/{finding.id}/letters/{letter.id}"
    shown = client.get(letter_path)
    assert shown.status_code == 200
    assert "<h1>Assessment decision letter</h1>" in shown.text and letter.number in shown.text
    # What people typed stays text, on the letter page too.
    assert "<b>late</b>" not in shown.text and "&lt;b&gt;late&lt;/b&gt;" in shown.text
    markdown = client.get(f"{letter_path}/markdown")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Assessment decision letter")


def test_the_person_concerned_appeals_and_a_viewer_sees_no_amounts(
    client, session, shipped_playbooks
):
    duty, ga, gm, staff, incident = _world(session, shipped_playbooks)
    finding = _propose(session, incident, duty, staff, 1000)
    letter = flows.approve(
        session, incident_id=incident.id, finding_id=finding.id, note="", actor=ga
    )[0]
    path = f"/incidents/{incident.id}/accountability"
    viewer = make_user(session, Role.viewer, password=PASSWORD, locale="en")
    assert login(client, viewer.username).status_code == 303
    page = client.get(path).text
    assert f'id="finding-{finding.id}"' in page and "Penalty approved" in page
    assert "1,000.00" not in page and staff.username not in page
    assert f'action="{path}' not in page
    assert client.get(f"{path}/findings/{finding.id}/letters/{letter.id}").status_code == 403
    client.cookies.clear()
    assert login(client, staff.username).status_code == 303
    appealed = post_form(
        client,
        f"{path}/findings/{finding.id}/letters/{letter.id}/appeal",
        {"reason": "The courier was late, not me."},
        path,
    )
    assert appealed.status_code == 303
    client.cookies.clear()
    assert login(client, gm.username).status_code == 303
    page = client.get(path).text
    assert "The courier was late, not me." in page and "/decide" in page
    appeal = (
        flows.accountability_read(session, incident_id=incident.id, actor=gm, locale="en")
        .findings[0]
        .appeals[0]
    )
    decided = post_form(
        client,
        f"{path}/findings/{finding.id}/appeals/{appeal.id}/decide",
        {"outcome": "varied", "note": "Half.", "penalty_amount": "500"},
        path,
    )
    assert decided.status_code == 303, decided.text
    assert "version 2" in client.get(path).text


@needs_chromium
def test_the_accountability_page_in_chromium(world, live_server, tmp_path):
    with db.session_scope() as session:
        duty = world.user(session, world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
        ga = make_user(session, Role.responder, password=PASSWORD)
        gm = make_user(session, Role.duty_manager, password=PASSWORD)
        staff = make_user(session, Role.agent, password=PASSWORD)
        make_team(session, key="general-affairs", name="综合部 General affairs", members=[ga])
        make_team(session, key="general-manager", name="总经理 General manager", members=[gm])
        incident = make_incident(
            session, registry=world.registry, title="PX-200 battery overheating", actor=duty
        )
        incident_flows.transition(
            session,
            incident=incident,
            change=StatusChange(status=IncidentStatus.resolved),
            actor=duty,
        )
        approved = _propose(session, incident, duty, staff, 800)
        flows.approve(session, incident_id=incident.id, finding_id=approved.id, note="", actor=ga)
        _propose(
            session,
            incident,
            duty,
            staff,
            300,
            major=True,
            facts="The safety notice was held back for a day.",
        )
        incident_id, gm_name = incident.id, gm.username
    page_path = f"{live_server}/incidents/{incident_id}/accountability"
    for locale, width in (("en", 1280), ("en", 390), ("zh-CN", 1280), ("zh-CN", 390)):
        with db.session_scope() as session:
            auth_service.update_user(
                session,
                user=auth_service.get_user_by_username(session, username=gm_name),
                data=UserUpdate(locale=locale),
                actor_id=None,
            )
        with chromium() as browser:
            page = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
            browser_login(page, live_server, gm_name)
            page.goto(f"{live_server}/incidents/{incident_id}/review")
            page.click(f'a[href="/incidents/{incident_id}/accountability"]')
            page.wait_for_url(page_path)
            assert page.locator("article.finding").count() == 2
            # The major case waits for the general manager's ruling; the other was 综合部's.
            assert page.locator("article.finding-proposed button.approve").count() == 1
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{locale} {width}: the page scrolls sideways by {overflow}px"
            shot(page, tmp_path, f"accountability-{locale}-{width}")
            page.click("article.finding-approved .finding-letters a >> nth=0")
            page.wait_for_load_state()
            assert page.locator("article.decision-letter h1").count() == 1
            shot(page, tmp_path, f"accountability-letter-{locale}-{width}")
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        browser_login(page, live_server, gm_name)
        page.goto(page_path)
        page.click("article.finding-proposed button.approve")
        page.wait_for_load_state()
        assert page.locator("article.finding-approved").count() == 2
        assert page.locator(".finding-letters li").count() == 2
