"""A drill run's evaluation through its pages: evaluators rate each objective P/S/M/U with
notes (bad input refused with a 400 naming the field, only the people allowed), participants add
hot-wash notes once the drill has ended, and improvement plan items become follow-ups of
the drill incident that the reminder sweep chases. Everything is on the timeline."""

from datetime import date, timedelta

from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.drills.evaluation_models import DrillRating, HotWashNote, Improvement
from incident_cmd.postmortems import followups as postmortem_followups
from incident_cmd.postmortems.models import FollowUp
from tests.plugins.drills import duty_client, person, post, signed_in


def ratings() -> list[tuple[str, str, str]]:
    with db.session_scope() as session:
        return [
            (rating.objective_key, rating.rating, rating.notes)
            for rating in session.exec(select(DrillRating).order_by(DrillRating.id))
        ]


def test_an_evaluator_rates_an_objective_and_rates_again(drills, client_factory, frozen_clock):
    run_id = drills.start("battery-recall")
    client = duty_client(drills, client_factory)
    page = f"/drills/{run_id}/evaluation"
    done = post(
        client,
        f"{page}/commander_ack/rating",
        page,
        {"rating": "S", "notes": "总指挥接听较慢"},
    )
    assert done.status_code == 200 and done.url.path == page  # followed the redirect
    assert ratings() == [("commander_ack", "S", "总指挥接听较慢")]
    post(client, f"{page}/commander_ack/rating", page, {"rating": "p", "notes": ""})
    assert ratings() == [("commander_ack", "P", "")]
    shown = client.get(page).text
    assert "P:顺利完成,无困难" in shown  # the duty manager reads Chinese
    assert drills.kinds(run_id, "drill.rated") == ["drill.rated", "drill.rated"]


def test_a_bad_rating_is_refused_naming_the_field(drills, client_factory, frozen_clock):
    run_id = drills.start("battery-recall")
    client = duty_client(drills, client_factory)
    page = f"/drills/{run_id}/evaluation"
    bad = post(client, f"{page}/commander_ack/rating", page, {"rating": "X", "notes": ""})
    assert bad.status_code == 400
    assert 'data-field="rating"' in bad.text and "is not one of P, S, M, U" in bad.text
    unknown = post(client, f"{page}/no_such/rating", page, {"rating": "P", "notes": ""})
    assert unknown.status_code == 400 and 'data-field="objective"' in unknown.text
    long = post(client, f"{page}/commander_ack/rating", page, {"rating": "P", "notes": "x" * 2001})
    assert long.status_code == 400 and 'data-field="notes"' in long.text
    assert ratings() == []
    assert drills.kinds(run_id, "drill.rated") == []


def test_only_managers_the_controller_and_named_evaluators_rate(
    drills, client_factory, frozen_clock
):
    run_id = drills.start("battery-recall")
    page = f"/drills/{run_id}/evaluation"
    agent_name = person(Role.agent)
    agent = signed_in(client_factory, agent_name)
    assert 'name="rating"' not in agent.get(page).text
    refused = post(agent, f"{page}/commander_ack/rating", page, {"rating": "P"})
    assert refused.status_code == 403 and ratings() == []
    # An agent may not name evaluators either, themselves least of all.
    assert (
        post(agent, f"/drills/{run_id}/evaluators", page, {"username": agent_name}).status_code
        == 403
    )
    duty = duty_client(drills, client_factory)
    unknown = post(duty, f"/drills/{run_id}/evaluators", page, {"username": "nobody"})
    assert unknown.status_code == 400 and 'data-field="username"' in unknown.text
    named = post(duty, f"/drills/{run_id}/evaluators", page, {"username": agent_name})
    assert named.status_code == 200
    assert post(agent, f"{page}/commander_ack/rating", page, {"rating": "M"}).status_code == 200
    assert ratings() == [("commander_ack", "M", "")]
    assert drills.kinds(run_id, "drill.evaluator_named") == ["drill.evaluator_named"]


def test_the_hot_wash_opens_when_the_drill_ends(drills, client_factory, frozen_clock):
    run_id = drills.start("battery-recall")
    page = f"/drills/{run_id}/hotwash"
    agent = signed_in(client_factory, person(Role.agent))
    early = post(agent, page, page, {"kind": "strength", "text": "分工明确"})
    assert early.status_code == 409 and 'data-field="state"' in early.text
    drills.end(run_id)
    assert post(agent, page, page, {"kind": "strength", "text": "分工明确"}).status_code == 200
    assert (
        post(agent, page, page, {"kind": "improvement", "text": "声明审批太慢"}).status_code == 200
    )
    empty = post(agent, page, page, {"kind": "note", "text": "  "})
    assert empty.status_code == 400 and 'data-field="text"' in empty.text
    odd = post(agent, page, page, {"kind": "gossip", "text": "x"})
    assert odd.status_code == 400 and 'data-field="kind"' in odd.text
    # A viewer watched the drill; only someone on its roster may speak at the hot wash.
    viewer = signed_in(client_factory, person(Role.viewer))
    assert post(viewer, page, page, {"kind": "note", "text": "看了"}).status_code == 403
    shown = agent.get(page).text
    assert "分工明确" in shown and "声明审批太慢" in shown
    with db.session_scope() as session:
        notes = session.exec(select(HotWashNote).order_by(HotWashNote.id)).all()
        assert [(note.kind, note.text) for note in notes] == [
            ("strength", "分工明确"),
            ("improvement", "声明审批太慢"),
        ]
    assert drills.kinds(run_id, "drill.hotwash_note") == ["drill.hotwash_note"] * 2


def test_improvement_items_become_followups_the_sweep_reminds(drills, client_factory, frozen_clock):
    run_id = drills.start("battery-recall")
    incident_id = drills.run(run_id).incident_id
    page = f"/drills/{run_id}/aar"
    client = duty_client(drills, client_factory)
    owner = person(Role.comms)
    item = {
        "title": "声明模板预先审批",
        "owner": owner,
        "due_on": "2026-11-30",
        "objective": "holding_statement",
    }
    assert post(client, f"{page}/improvements", page, item).status_code == 409  # still running
    drills.end(run_id)
    for field, value in (("due_on", "next week"), ("owner", "nobody"), ("title", " ")):
        refused = post(client, f"{page}/improvements", page, {**item, field: value})
        assert refused.status_code == 400 and f'data-field="{field}"' in refused.text, field
    refused = post(client, f"{page}/improvements", page, {**item, "objective": "nope"})
    assert refused.status_code == 400 and 'data-field="objective"' in refused.text
    assert post(client, f"{page}/improvements", page, item).status_code == 200
    with db.session_scope() as session:
        followup = session.exec(select(FollowUp)).one()
        link = session.exec(select(Improvement)).one()
        assert (followup.incident_id, followup.title, followup.due_on) == (
            incident_id,
            "声明模板预先审批",
            date(2026, 11, 30),
        )
        assert (link.run_id, link.followup_id, link.objective_key) == (
            run_id,
            followup.id,
            "holding_statement",
        )
    assert "postmortem.followup_added" in drills.kinds(run_id)
    plan = client.get(page).text.split('id="plan"')[1]
    assert "声明模板预先审批" in plan and owner in plan and "2026-11-30" in plan
    # Past its due day the follow-up reminder sweep chases it, as a review's.
    frozen_clock.advance(timedelta(days=10))
    with db.session_scope() as session:
        assert postmortem_followups.remind_followups(session) == 1
    assert "postmortem.followup_overdue" in drills.kinds(run_id)


def test_a_plan_item_is_marked_done_by_its_owner_and_no_one_else(
    drills, client_factory, frozen_clock
):
    run_id = drills.start("battery-recall")
    page = f"/drills/{run_id}/aar"
    drills.end(run_id)
    owner = person(Role.comms)
    item = {"title": "Rehearse the holding statement", "owner": owner, "due_on": "2026-11-30"}
    assert post(duty_client(drills, client_factory), f"{page}/improvements", page, item)
    with db.session_scope() as session:
        followup_id = session.exec(select(FollowUp.id)).one()
    done = f"{page}/improvements/{followup_id}/done"
    stranger = signed_in(client_factory, person(Role.agent))
    assert done not in stranger.get(page).text
    assert post(stranger, done, page, {}).status_code == 403
    assert (
        post(
            signed_in(client_factory, owner), f"{page}/improvements/999999/done", page, {}
        ).status_code
        == 404
    )
    owners = signed_in(client_factory, owner)
    assert done in owners.get(page).text
    assert post(owners, done, page, {}).status_code == 200
    with db.session_scope() as session:
        assert session.get_one(FollowUp, followup_id).state == "done"
    assert done not in owners.get(page).text
    assert "postmortem.followup_done" in drills.kinds(run_id)
