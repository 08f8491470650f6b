"""A duty manager pages a seat again: its holder declined, let the page run out, or has not
answered yet. The standing page is cancelled and a new one starts with the holder, round one,
so escalation runs again from the start; a seat someone acknowledged is not paged again."""

from datetime import timedelta

import pytest
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role, User
from incident_cmd.errors import Conflict, Invalid
from incident_cmd.incidents import flows
from incident_cmd.incidents.models import Incident
from incident_cmd.incidents.schemas import SeatPage, StatusChange
from incident_cmd.messaging.models import DirectMessage, DirectMessageStatus
from incident_cmd.paging import answers, queries
from incident_cmd.paging import flows as paging_flows
from incident_cmd.paging.models import Page, PageStatus, TargetStatus
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import bearer, make_user
from tests.plugins.messaging import send_direct
from tests.plugins.paging import Paging

MINUTE = timedelta(minutes=1)
COMMANDER = SeatPage(role="commander", slot=0)


def _page_again(paging: Paging, seat: SeatPage = COMMANDER) -> Page:
    page = flows.page_again(
        paging.session, incident=paging.incident, seat=seat, actor=paging.declarer()
    )
    paging.session.flush()
    return page


def _entries(paging: Paging, kind: str) -> list[TimelineEvent]:
    return [
        event
        for event in timeline.events_for(
            paging.session, subject_type="incident", subject_id=paging.incident.id
        )
        if event.kind == kind
    ]


def test_a_declined_page_starts_again_with_the_holder_and_escalates_again(paging, frozen_clock):
    holder, deputy = paging.holder("commander"), paging.holder("deputy")
    first = paging.page("commander")
    frozen_clock.advance(MINUTE)
    answers.decline(paging.session, target=paging.target_of("commander", holder), via="sms")
    assert paging.reached("commander")[-1][:2] == (deputy, "acting")

    frozen_clock.advance(MINUTE)
    again = _page_again(paging)

    assert first.status == PageStatus.cancelled
    assert TargetStatus.open not in {
        target.status for target in queries.targets_of(paging.session, page_ids=[first.id])
    }
    assert again.id != first.id and paging.page("commander").id == again.id
    assert (again.status, again.level, again.round) == (PageStatus.open, 0, 0)
    assert again.escalate_at == frozen_clock() + 5 * MINUTE  # the commander's ack_within
    assert paging.reached("commander") == [(holder, "seat_holder", 1)]
    assert paging.messages("commander") == [(holder, "sms")]
    # Escalation runs again from the start: the deputy acts once the holder stays silent.
    frozen_clock.advance(5 * MINUTE)
    paging.sweep()
    assert paging.reached("commander")[-1] == (deputy, "acting", 1)


def test_paging_again_is_on_the_timeline_with_who_asked(paging, frozen_clock):
    holder = paging.holder("commander")
    _page_again(paging)
    kinds = paging.timeline()
    assert kinds[-3:] == ["page.cancelled", "page.requested", "page.sent"]
    [requested] = _entries(paging, "page.requested")
    assert requested.actor_id == paging.declarer().id
    assert requested.data == {
        "role": "commander",
        "slot": 0,
        "user": holder,
        "again": True,
        "previous": "open",
    }
    assert _entries(paging, "page.cancelled")[-1].data["reason"] == "paged again"
    assert _entries(paging, "page.sent")[-1].actor_id == paging.declarer().id


def test_a_page_that_ran_out_is_paged_again(paging, frozen_clock):
    for _ in range(7):  # three rounds of holder, deputy and duty manager, 5 minutes each
        frozen_clock.advance(5 * MINUTE)
        paging.sweep()
    exhausted = paging.page("commander")
    assert exhausted.status == PageStatus.exhausted
    again = _page_again(paging)
    assert exhausted.status == PageStatus.cancelled
    assert again.status == PageStatus.open and again.escalate_at is not None
    assert _entries(paging, "page.requested")[-1].data["previous"] == "exhausted"


def test_an_acknowledged_seat_is_not_paged_again(paging):
    holder = paging.holder("commander")
    paging_flows.acknowledge(
        paging.session, target=paging.target_of("commander", holder), via="api"
    )
    paging.session.flush()
    acknowledged = paging.page("commander")
    with pytest.raises(Conflict, match=f"{holder} already acknowledged"):
        _page_again(paging)
    assert paging.page("commander").id == acknowledged.id
    assert acknowledged.status == PageStatus.acknowledged
    assert "page.requested" not in paging.timeline()


def test_a_seat_its_playbook_does_not_page_is_paged_on_request(paging):
    # The logistics lead is brought in when needed: declaring did not page them.
    logistics = SeatPage(role="logistics_lead", slot=0)
    assert "logistics_lead" not in {
        page.role_key for page in queries.pages_of(paging.session, incident=paging.incident)
    }
    page = _page_again(paging, logistics)
    holder = paging.holder("logistics_lead")
    assert page.status == PageStatus.open
    assert paging.reached("logistics_lead") == [(holder, "seat_holder", 1)]
    assert _entries(paging, "page.requested")[-1].data["again"] is False


def test_no_page_again_for_a_seat_that_does_not_exist_or_a_stood_down_roster(paging):
    with pytest.raises(Invalid, match="no seat 2 of role 'commander'"):
        _page_again(paging, SeatPage(role="commander", slot=1))
    flows.transition(
        paging.session,
        incident=paging.incident,
        change=StatusChange(status="resolved"),
        actor=paging.declarer(),
    )
    with pytest.raises(Conflict, match="roster is stood down"):
        _page_again(paging)


# --- the API ---------------------------------------------------------------------------------


def _api_page_again(client, incident_id, headers, role="commander"):
    return client.post(
        f"/api/v1/incidents/{incident_id}/roster/page",
        json={"role": role, "slot": 0},
        headers=headers,
    )


def test_the_api_pages_again_for_duty_managers_only(client, paging):
    incident_id = paging.incident.id
    first = paging.page("commander")
    for role in (Role.responder, Role.comms, Role.agent, Role.viewer):
        refused = _api_page_again(
            client, incident_id, bearer(paging.session, make_user(paging.session, role))
        )
        assert refused.status_code == 403, role
    assert paging.page("commander").id == first.id

    duty = bearer(paging.session, paging.declarer())
    answered = _api_page_again(client, incident_id, duty)
    assert answered.status_code == 200, answered.text
    assert answered.json()["number"] == paging.incident.number
    assert paging.page("commander").id != first.id

    paging_flows.acknowledge(
        paging.session,
        target=paging.target_of("commander", paging.holder("commander")),
        via="api",
    )
    paging.session.commit()
    conflict = _api_page_again(client, incident_id, duty)
    assert conflict.status_code == 409 and conflict.json()["field"] == "role"
    assert "already acknowledged" in conflict.json()["detail"]
    unknown = _api_page_again(client, incident_id, duty, role="nobody")
    assert unknown.status_code == 422 and unknown.json()["field"] == "role"


# --- the page reaches the provider ----------------------------------------------------------


def test_the_new_page_reaches_the_provider(world, twilio):
    incident_id = world.declare_recall()
    assert send_direct() == 6  # six paged roles, an SMS each
    with db.session_scope() as session:
        incident = session.get_one(Incident, incident_id)
        flows.page_again(
            session,
            incident=incident,
            seat=COMMANDER,
            actor=world.user(session, world.duty_manager),
        )
    assert send_direct() == 1
    with db.session_scope() as session:
        page = Paging(session, session.get_one(Incident, incident_id)).page("commander")
        [target] = queries.targets_of(session, page_ids=[page.id])
        [message] = session.exec(
            select(DirectMessage).where(DirectMessage.source_id == target.id)
        ).all()
        assert message.status == DirectMessageStatus.sent
        holder = session.get_one(User, target.user_id)
    sent = [sms for sms in twilio.fake.state.messages.values() if sms["to"] == holder.phone]
    assert len(sent) == 2  # the first page and this one
    assert target.code in sent[-1]["body"]
