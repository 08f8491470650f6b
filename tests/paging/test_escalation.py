"""Contact steps and escalation on the project's clock: each step at its time, once."""

from datetime import timedelta

from sqlmodel import col, select

from incident_cmd.auth.models import Role, User
from incident_cmd.incidents import flows
from incident_cmd.incidents.schemas import ResponderAdd, RoleAssign, StatusChange
from incident_cmd.messaging.models import DirectMessage, DirectMessageStatus
from incident_cmd.paging import answers, mobilisation, queries
from incident_cmd.paging import flows as paging_flows
from incident_cmd.paging.models import PageStatus, TargetStatus
from incident_cmd.teams.models import Team
from tests.factories import (
    DUTY_MANAGERS,
    SERVICE_DESK,
    make_playbook_teams,
    make_user,
    rotation_members,
)
from tests.plugins.paging import declare, on_call

MINUTE = timedelta(minutes=1)


def test_declaring_pages_every_paged_role_and_no_other(paging, shipped_playbooks):
    playbook = shipped_playbooks.get("product-recall").playbook
    paged = {role.key for role in playbook.roles if role.page}
    assert {
        page.role_key for page in queries.pages_of(paging.session, incident=paging.incident)
    } == paged
    # A paged person's contact policy: SMS at once; voice and email later.
    holder = paging.holder("commander")
    assert paging.messages("commander") == [(holder, "sms")]
    assert paging.timeline().count("page.sent") == len(paged)


def test_an_unacknowledged_commander_page_goes_to_the_deputy_then_the_duty_manager(
    paging, frozen_clock
):
    start = frozen_clock()
    holder = paging.holder("commander")
    deputy = paging.holder("deputy")
    duty_manager = on_call(paging.session, DUTY_MANAGERS, None, start, count=1)[0]

    frozen_clock.advance(2 * MINUTE)  # the contact policy: a voice call after 2 minutes
    paging.sweep()
    assert paging.messages("commander") == [(holder, "sms"), (holder, "voice")]
    assert paging.reached("commander") == [(holder, "seat_holder", 1)]

    frozen_clock.advance(3 * MINUTE)  # commander: ack_within 5m; the deputy acts (总经理担任总指挥)
    paging.sweep()
    assert paging.reached("commander")[-1] == (deputy, "acting", 1)
    assert paging.messages("commander")[-1] == (deputy, "sms")

    frozen_clock.advance(2 * MINUTE)  # 7 min: the holder's email step is no longer due
    paging.sweep()
    assert (holder, "email") not in paging.messages("commander")
    assert paging.messages("commander")[-1] == (deputy, "voice")

    frozen_clock.advance(3 * MINUTE)
    paging.sweep()
    assert paging.reached("commander")[-1] == (duty_manager, "duty_manager", 1)

    frozen_clock.advance(5 * MINUTE)  # 15 min: round two starts again with the seat holder
    paging.sweep()
    assert paging.reached("commander")[-1] == (holder, "seat_holder", 2)

    for _ in range(3):
        frozen_clock.advance(5 * MINUTE)
        paging.sweep()
    assert [who for who, _, _ in paging.reached("commander")] == [
        holder,
        deputy,
        duty_manager,
        holder,
        deputy,
        duty_manager,
    ]
    page = paging.page("commander")
    assert page.status == PageStatus.exhausted and page.escalate_at is None
    assert "page.exhausted" in paging.timeline()


def test_a_seat_without_an_acting_role_goes_to_the_next_in_its_rotation(paging, frozen_clock):
    start = frozen_clock()
    holder = paging.holder("deputy")
    next_up = next(
        name for name in on_call(paging.session, "executives", "deputy", start) if name != holder
    )
    frozen_clock.advance(10 * MINUTE)  # deputy: ack_within 10m, the default chain
    paging.sweep()
    assert paging.reached("deputy")[-1] == (next_up, "next_in_rotation", 1)


def test_each_step_happens_once_however_often_the_sweeps_run(paging, frozen_clock):
    for _ in range(5):
        paging.sweep()
    frozen_clock.advance(2 * MINUTE)
    for _ in range(5):
        paging.sweep()
    holder = paging.holder("commander")
    assert paging.messages("commander") == [(holder, "sms"), (holder, "voice")]


def test_the_team_lead_is_paged_when_not_already_reached(paging, frozen_clock):
    team = paging.session.exec(select(Team).where(Team.key == SERVICE_DESK)).one()
    lead = make_user(paging.session, Role.responder, contactable=True)  # in no rotation
    team.lead_user_id = lead.id
    paging.session.add(team)
    frozen_clock.advance(10 * MINUTE)  # cs_lead: ack_within 10m
    paging.sweep()
    frozen_clock.advance(10 * MINUTE)
    paging.sweep()
    assert [(who, why) for who, why, _ in paging.reached("cs_lead")][-1] == (
        lead.username,
        "team_lead",
    )


def test_acknowledging_midway_stops_the_chain(paging, frozen_clock):
    holder = paging.holder("commander")
    frozen_clock.advance(5 * MINUTE)
    paging.sweep()  # escalated to the next in the rotation
    frozen_clock.advance(MINUTE)
    answer = paging_flows.acknowledge(
        paging.session, target=paging.target_of("commander", holder), via="api"
    )
    assert answer.changed
    page = paging.page("commander")
    assert page.status == PageStatus.acknowledged
    assert page.acknowledged_at == frozen_clock()
    assert {t.status for t in paging.targets("commander")} == {
        TargetStatus.acknowledged,
        TargetStatus.cancelled,
    }
    before = paging.messages("commander")
    for _ in range(6):
        frozen_clock.advance(5 * MINUTE)
        paging.sweep()
    assert paging.messages("commander") == before
    assert paging.holder("commander") == holder


def test_whoever_acknowledges_an_escalated_page_takes_the_seat(paging, frozen_clock):
    holder = paging.holder("deputy")
    frozen_clock.advance(10 * MINUTE)
    paging.sweep()
    next_up = paging.reached("deputy")[-1][0]
    paging_flows.acknowledge(paging.session, target=paging.target_of("deputy", next_up), via="sms")
    paging.session.flush()
    assert paging.holder("deputy") == next_up
    assert holder != next_up
    kinds = paging.timeline("roster.")
    assert kinds[-2:] == ["roster.relieved", "roster.assigned"]


def test_the_deputy_acts_for_an_unanswering_commander_who_keeps_the_seat(paging, frozen_clock):
    holder, deputy = paging.holder("commander"), paging.holder("deputy")
    frozen_clock.advance(5 * MINUTE)
    paging.sweep()
    answer = paging_flows.acknowledge(
        paging.session, target=paging.target_of("commander", deputy), via="sms"
    )
    paging.session.flush()
    assert answer.changed and paging.page("commander").status == PageStatus.acknowledged
    # 总经理担任总指挥: the seat stays with the general manager; the timeline says who acts.
    assert paging.holder("commander") == holder and paging.holder("deputy") == deputy
    assert paging.timeline("roster.")[-1] == "roster.acting"
    # A duty manager may still give the seat to the deputy.
    flows.assign_role(
        paging.session,
        incident=paging.incident,
        change=RoleAssign(role="commander", slot=0, user=deputy, note="GM unreachable"),
        actor=paging.declarer(),
    )
    paging.session.flush()
    assert paging.holder("commander") == deputy


def test_a_seat_handed_over_after_its_answer_is_timed_again_from_the_new_page(paging, frozen_clock):
    holder = paging.holder("cs_lead")
    frozen_clock.advance(2 * MINUTE)
    paging_flows.acknowledge(paging.session, target=paging.target_of("cs_lead", holder), via="api")
    frozen_clock.advance(40 * MINUTE)
    other = next(
        name for name in rotation_members(paging.session, team_key=SERVICE_DESK) if name != holder
    )
    flows.assign_role(
        paging.session,
        incident=paging.incident,
        change=RoleAssign(role="cs_lead", user=other),
        actor=paging.declarer(),
    )
    paging.session.flush()

    def cs_lead():
        figures = mobilisation.mobilisation(paging.session, incident=paging.incident)
        return next(role for role in figures.roles if role.role == "cs_lead")

    # The new holder has not answered: the seat is not acknowledged, and not late yet.
    waiting = cs_lead()
    assert waiting.status == PageStatus.open and waiting.acknowledged_at is None
    assert waiting.paged_at == frozen_clock() and waiting.within_target is None
    frozen_clock.advance(4 * MINUTE)
    paging_flows.acknowledge(paging.session, target=paging.target_of("cs_lead", other), via="api")
    answered = cs_lead()
    assert (answered.seconds_to_ack, answered.within_target) == (4 * 60, True)
    assert paging.username(answered.acknowledged_by) == other


def test_declining_jumps_ahead_at_once(paging, frozen_clock):
    holder = paging.holder("commander")
    frozen_clock.advance(MINUTE)
    answer = answers.decline(
        paging.session, target=paging.target_of("commander", holder), via="sms"
    )
    assert answer.changed
    who, why, _ = paging.reached("commander")[-1]
    assert (who, why) == (paging.holder("deputy"), "acting")
    page = paging.page("commander")
    assert page.escalate_at == frozen_clock() + 5 * MINUTE
    # The decliner gets no more calls.
    frozen_clock.advance(2 * MINUTE)
    paging.sweep()
    assert (holder, "voice") not in paging.messages("commander")


def test_duplicate_answers_are_harmless(paging):
    holder = paging.holder("commander")
    target = paging.target_of("commander", holder)
    first = paging_flows.acknowledge(paging.session, target=target, via="api")
    again = paging_flows.acknowledge(paging.session, target=target, via="sms")
    late_decline = answers.decline(paging.session, target=target, via="voice")
    assert first.changed and not again.changed and not late_decline.changed
    assert paging.timeline().count("page.acknowledged") == 1
    assert "page.declined" not in paging.timeline()
    assert target.answered_via == "api"


def test_an_unfilled_seat_pages_up_the_chain(session, shipped_playbooks):
    teams = make_playbook_teams(session, shipped_playbooks.get("product-recall").playbook)
    quality = teams["quality"]
    members = rotation_members(session, team_key=quality.key)
    rotation = session.exec(select(User).where(col(User.username).in_(members))).all()
    for user in [*rotation, session.get(User, quality.lead_user_id)]:  # all of them, and the lead
        user.active = False
        session.add(user)
    paging = declare(session, shipped_playbooks)
    duty_manager = on_call(session, DUTY_MANAGERS, None, paging.incident.declared_at, 1)[0]
    assert paging.reached("quality_lead") == [(duty_manager, "duty_manager", 1)]


def test_handover_cancels_the_old_page_and_pages_the_new_holder(paging):
    holder = paging.holder("cs_lead")
    other = next(
        name for name in rotation_members(paging.session, team_key=SERVICE_DESK) if name != holder
    )
    old_page = paging.page("cs_lead")
    flows.assign_role(
        paging.session,
        incident=paging.incident,
        change=RoleAssign(role="cs_lead", user=other),
        actor=paging.declarer(),
    )
    paging.session.flush()
    assert old_page.status == PageStatus.cancelled
    assert paging.reached("cs_lead") == [(other, "seat_holder", 1)]
    pending = paging.session.exec(
        select(DirectMessage).where(
            col(DirectMessage.source_id).in_([t.id for t in paging.targets("cs_lead")])
        )
    ).all()
    assert [message.status for message in pending] == [DirectMessageStatus.pending]


def test_an_ad_hoc_responder_is_paged_without_a_chain(paging, frozen_clock):
    counsel = make_user(paging.session, Role.responder, contactable=True).username
    seat = flows.add_responder(
        paging.session,
        incident=paging.incident,
        data=ResponderAdd(role="legal", user=counsel, note="legal counsel"),
        actor=paging.declarer(),
    )
    paging.session.flush()
    assert seat.role_key == "legal" and seat.slot == 0
    assert paging.reached("legal") == [(counsel, "seat_holder", 1)]
    frozen_clock.advance(15 * MINUTE)
    paging.sweep()
    assert paging.page("legal").status == PageStatus.exhausted
    assert paging.reached("legal") == [(counsel, "seat_holder", 1)]


def test_resolving_stands_everyone_down_with_the_message(paging):
    flows.transition(
        paging.session,
        incident=paging.incident,
        change=StatusChange(status="resolved", note="Recall complete, thank you."),
        actor=paging.declarer(),
    )
    paging.session.flush()
    pages = queries.pages_of(paging.session, incident=paging.incident)
    assert {page.status for page in pages} == {PageStatus.cancelled}
    stand_downs = paging.session.exec(
        select(DirectMessage).where(DirectMessage.key.startswith("stand-down-"))
    ).all()
    seats = flows.service.current_roster(paging.session, incident=paging.incident)
    assert len(stand_downs) == len([seat for seat in seats if seat.user_id])
    assert all("Recall complete, thank you." in message.body for message in stand_downs)
    queued_pages = paging.session.exec(
        select(DirectMessage).where(DirectMessage.status == DirectMessageStatus.pending)
    ).all()
    assert all(message.key.startswith("stand-down-") for message in queued_pages)
    assert "roster.stood_down" in paging.timeline("roster.")


def test_drill_pages_say_so_in_every_message(session, shipped_playbooks):
    paging = declare(session, shipped_playbooks, drill=True)
    messages = session.exec(select(DirectMessage)).all()
    assert messages and all(message.drill for message in messages)
    for message in messages:
        assert message.body.startswith(("【演练】", "[DRILL]")), message.body
    assert paging.incident.drill


def test_figures_report_time_to_acknowledge_against_targets(paging, frozen_clock):
    frozen_clock.advance(3 * MINUTE)
    paging_flows.acknowledge(
        paging.session, target=paging.target_of("commander", paging.holder("commander")), via="api"
    )
    figures = mobilisation.mobilisation(paging.session, incident=paging.incident)
    commander = next(role for role in figures.roles if role.role == "commander")
    assert (commander.seconds_to_ack, commander.target_seconds, commander.within_target) == (
        180,
        300,
        True,
    )
    assert figures.full_roster_at is None and figures.within_target is None
    frozen_clock.advance(20 * MINUTE)
    for page in queries.pages_of(paging.session, incident=paging.incident):
        if page.status == PageStatus.open:
            target = paging.targets(page.role_key)[-1]
            paging_flows.acknowledge(paging.session, target=target, via="api")
    figures = mobilisation.mobilisation(paging.session, incident=paging.incident)
    assert figures.seconds_to_full_roster == 23 * 60
    assert figures.within_target is False  # the slowest role's target is 15 minutes
    assert figures.full_roster_target_seconds == 15 * 60
