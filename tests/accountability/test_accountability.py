"""Responsibility findings routed to the authority the seed gives the amount (001 6-4
「5000元以下由综合部核准,5000元以上由总经理核准」, 6-3 「总经理最终裁定重大投诉案件的处罚决定」),
approved by nobody who proposed them or does not hold the routed authority, a 《考核决定书》
kept as issued for each person concerned, and the appeal that may vary or revoke it."""

from decimal import Decimal

import pytest
from sqlmodel import select

from incident_cmd.accountability import policy as policy_module
from incident_cmd.accountability.models import Authority, Letter
from incident_cmd.accountability.policy import policy
from incident_cmd.config import get_settings
from incident_cmd.i18n import Locale
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web.event_text import Reading, event_text


def _finding(client, cast, auth, user, finding_id):
    body = client.get(cast.path, headers=auth(user)).json()
    return next(item for item in body["findings"] if item["id"] == finding_id)


# --- the route -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "route"),
    [
        (4999, "general_affairs"),  # 「5000元以下由综合部核准」
        # 5,000 itself: 「以下」 and 「以上」 both include the number in Chinese drafting
        # (民法典 第1259条), so the seed names it twice; it goes to the higher authority.
        (5000, "general_manager"),
        (5001, "general_manager"),  # 「5000元以上由总经理核准」
    ],
)
def test_the_penalty_amount_routes_the_finding(propose, amount, route):
    response = propose(amount)
    assert response.status_code == 201, response.text
    assert response.json()["route"] == route
    assert response.json()["state"] == "proposed"


def test_the_boundary_is_the_configured_threshold_at_or_above():
    rules = policy()
    assert rules.threshold_yuan == Decimal(5000)
    below = rules.route(total_penalty_yuan=Decimal("4999.99"), major=False)
    assert below == Authority.general_affairs
    assert rules.route(total_penalty_yuan=Decimal(5000), major=False) == Authority.general_manager


def test_a_major_case_goes_to_the_general_manager_whatever_the_amount(propose):
    response = propose(100, major=True)
    assert response.json()["route"] == "general_manager" and response.json()["major"] is True


def test_the_route_follows_the_total_the_finding_takes(propose, cast):
    # 2,500 from each of two people is 5,000 yuan taken in penalties: the GM's.
    response = propose(2500, [cast.staff, cast.staff_other])
    assert response.json()["route"] == "general_manager"
    assert response.json()["penalty_total"] == "5000.00"


def test_the_threshold_comes_from_the_configuration(propose, monkeypatch, tmp_path):
    text = get_settings().accountability_file.read_text(encoding="utf-8")
    changed = tmp_path / "accountability.yaml"
    changed.write_text(text.replace("threshold_yuan: 5000", "threshold_yuan: 3000"))
    monkeypatch.setenv("INCIDENT_CMD_ACCOUNTABILITY_FILE", str(changed))
    get_settings.cache_clear()
    assert propose(3000).json()["route"] == "general_manager"
    assert propose(2999).json()["route"] == "general_affairs"


def test_a_broken_configuration_says_where(tmp_path):
    with pytest.raises(policy_module.ConfigurationError, match="threshold_yuan"):
        policy_module.parse(
            "threshold_yuan: -1\nauthorities: {general_affairs: a, general_manager: b}\n"
            "appeal_within_days: 5\nappeal_route: {en: '{deadline}', zh-CN: '{deadline}'}\n",
            "x.yaml",
        )


# --- who approves ----------------------------------------------------------------------------


def test_nobody_approves_a_penalty_they_proposed(client, cast, auth, propose):
    finding = propose(1000, by=cast.ga).json()
    response = client.post(
        f"{cast.path}/findings/{finding['id']}/approve", json={}, headers=auth(cast.ga)
    )
    assert response.status_code == 403
    assert "nobody approves a penalty they proposed" in response.json()["detail"]
    assert _finding(client, cast, auth, cast.ga, finding["id"])["state"] == "proposed"


@pytest.mark.parametrize(
    ("amount", "who", "expected"),
    [
        (1000, "gm", "approved by 综合部"),  # below the threshold: 综合部's, not the GM's
        (1000, "duty", "approved by 综合部"),  # a duty manager holds no authority
        (6000, "ga", "approved by the general manager"),
    ],
)
def test_only_a_holder_of_the_routed_authority_approves(
    client, cast, auth, propose, amount, who, expected
):
    finding = propose(amount, by=cast.ga_other).json()
    response = client.post(
        f"{cast.path}/findings/{finding['id']}/approve", json={}, headers=auth(getattr(cast, who))
    )
    assert response.status_code == 403, response.text
    assert expected in response.json()["detail"]
    assert _finding(client, cast, auth, cast.duty, finding["id"])["state"] == "proposed"


def test_a_viewer_may_not_approve(client, cast, auth, propose):
    finding = propose(1000).json()
    response = client.post(
        f"{cast.path}/findings/{finding['id']}/approve", json={}, headers=auth(cast.viewer)
    )
    assert response.status_code == 403


def test_a_decided_finding_is_not_decided_again(client, cast, auth, propose):
    finding = propose(1000).json()
    url = f"{cast.path}/findings/{finding['id']}"
    assert client.post(f"{url}/approve", json={}, headers=auth(cast.ga)).status_code == 200
    again = client.post(f"{url}/reject", json={"note": "no"}, headers=auth(cast.ga_other))
    assert again.status_code == 409 and "already approved" in again.json()["detail"]


def test_a_rejection_says_why(client, cast, auth, propose):
    finding = propose(6000).json()
    url = f"{cast.path}/findings/{finding['id']}/reject"
    silent = client.post(url, json={}, headers=auth(cast.gm))
    assert silent.status_code == 422 and silent.json()["field"] == "note"
    done = client.post(
        url, json={"note": "the notice was late for the courier"}, headers=auth(cast.gm)
    )
    assert done.status_code == 200 and done.json()["state"] == "rejected"
    assert done.json()["letters"] == []


def test_findings_are_proposed_only_in_review(client, cast, auth, propose, session):
    from incident_cmd.incidents import flows as incident_flows
    from incident_cmd.incidents.models import IncidentStatus
    from incident_cmd.incidents.schemas import StatusChange

    incident_flows.transition(
        session,
        incident=cast.incident,
        change=StatusChange(status=IncidentStatus.active),
        actor=cast.duty,
    )
    session.flush()
    response = propose(1000)
    assert response.status_code == 409 and "while it is in review" in response.json()["detail"]


# --- the letter ------------------------------------------------------------------------------


def test_approval_issues_a_letter_to_each_person_kept_as_issued(
    client, cast, auth, propose, session, monkeypatch, tmp_path
):
    finding = propose(6000, [cast.staff, cast.staff_other], major=True).json()
    approved = client.post(
        f"{cast.path}/findings/{finding['id']}/approve",
        json={"note": "confirmed"},
        headers=auth(cast.gm),
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["state"] == "approved" and body["decided_by"] == cast.gm.username
    letters = {letter["person"]: letter for letter in body["letters"]}
    assert set(letters) == {cast.staff.username, cast.staff_other.username}
    mine = letters[cast.staff.username]
    assert mine["number"].startswith("KHJD-2026-") and mine["version"] == 1
    stored = session.get(Letter, mine["id"])
    chinese, english = stored.texts["zh-CN"], stored.texts["en"]
    for text in (chinese, english):
        assert mine["number"] in text and cast.incident.number in text
        assert "The recall notice went out two days late." in text
        assert "6000.00" in text and "12000.00" in text and cast.gm.username in text
        assert "2026-11-23" in text  # the date of issue, in Shanghai
        assert mine["appeal_until"] == "2026-12-08" and "2026-12-08" in text
    assert "# 考核决定书" in chinese and "总经理裁决" in chinese and "申诉" in chinese
    assert "# Assessment decision letter" in english and "appeal" in english
    # The reader's language: the duty manager reads Chinese by default, the API gives it.
    assert "考核决定书" in mine["text"]
    # A later change of the appeal route rewrites no issued letter.
    text = get_settings().accountability_file.read_text(encoding="utf-8")
    changed = tmp_path / "accountability.yaml"
    changed.write_text(text.replace("appeal_within_days: 15", "appeal_within_days: 30"))
    monkeypatch.setenv("INCIDENT_CMD_ACCOUNTABILITY_FILE", str(changed))
    get_settings.cache_clear()
    download = client.get(
        f"{cast.path}/findings/{finding['id']}/letters/{mine['id']}",
        params={"locale": "en"},
        headers=auth(cast.staff),
    )
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/markdown")
    assert f'filename="{mine["number"]}.md"' in download.headers["content-disposition"]
    assert download.text == english


def test_a_letter_is_read_by_its_addressee_not_the_other_person_concerned(
    client, cast, auth, propose
):
    finding = propose(1000, [cast.staff, cast.staff_other]).json()
    client.post(f"{cast.path}/findings/{finding['id']}/approve", json={}, headers=auth(cast.ga))
    mine = _finding(client, cast, auth, cast.staff, finding["id"])
    assert [letter["person"] for letter in mine["letters"]] == [cast.staff.username]
    other = next(
        letter
        for letter in _finding(client, cast, auth, cast.duty, finding["id"])["letters"]
        if letter["person"] == cast.staff_other.username
    )
    refused = client.get(
        f"{cast.path}/findings/{finding['id']}/letters/{other['id']}", headers=auth(cast.staff)
    )
    assert refused.status_code == 403


# --- who reads what --------------------------------------------------------------------------


def test_a_viewer_sees_that_a_finding_exists_but_not_who_or_how_much(client, cast, auth, propose):
    finding = propose(1000).json()
    client.post(f"{cast.path}/findings/{finding['id']}/approve", json={}, headers=auth(cast.ga))
    for outsider in (cast.viewer, cast.staff_other):
        seen = _finding(client, cast, auth, outsider, finding["id"])
        assert seen["state"] == "approved" and seen["detail"] is False
        assert seen["people"] is None and seen["penalty_amount"] is None
        assert seen["loss_amount"] is None and seen["facts"] is None and seen["letters"] == []
    concerned = _finding(client, cast, auth, cast.staff, finding["id"])
    assert concerned["detail"] is True and concerned["penalty_amount"] == "1000.00"


# --- appeals ---------------------------------------------------------------------------------


def _approved_letter(client, cast, auth, propose, amount=1000, approver=None):
    finding = propose(amount).json()
    body = client.post(
        f"{cast.path}/findings/{finding['id']}/approve",
        json={},
        headers=auth(approver or cast.ga),
    ).json()
    return finding["id"], body["letters"][0]


def test_an_appeal_varied_issues_the_next_letter_version(client, cast, auth, propose, session):
    finding_id, letter = _approved_letter(client, cast, auth, propose)
    url = f"{cast.path}/findings/{finding_id}"
    stranger = client.post(
        f"{url}/letters/{letter['id']}/appeal", json={"reason": "x"}, headers=auth(cast.duty)
    )
    assert stranger.status_code == 403
    filed = client.post(
        f"{url}/letters/{letter['id']}/appeal",
        json={"reason": "The courier lost the notices, not me."},
        headers=auth(cast.staff),
    )
    assert filed.status_code == 201, filed.text
    appeal = filed.json()
    assert appeal["state"] == "open" and appeal["letter"] == letter["number"]
    twice = client.post(
        f"{url}/letters/{letter['id']}/appeal", json={"reason": "again"}, headers=auth(cast.staff)
    )
    assert twice.status_code == 409
    decision = {"outcome": "varied", "note": "Half the blame.", "penalty_amount": 500}
    # The approver does not hear the appeal against their own decision.
    by_approver = client.post(
        f"{url}/appeals/{appeal['id']}/decide", json=decision, headers=auth(cast.ga)
    )
    assert by_approver.status_code == 403
    decided = client.post(
        f"{url}/appeals/{appeal['id']}/decide", json=decision, headers=auth(cast.ga_other)
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "varied" and decided.json()["decided_by"] == (
        cast.ga_other.username
    )
    new_number = decided.json()["new_letter"]
    assert new_number and new_number != letter["number"]
    letters = _finding(client, cast, auth, cast.staff, finding_id)["letters"]
    assert [(item["version"], item["superseded"]) for item in letters] == [(1, True), (2, False)]
    assert letters[1]["penalty_amount"] == "500.00"
    new = session.get(Letter, letters[1]["id"])
    assert "500.00" in new.texts["zh-CN"] and letter["number"] in new.texts["zh-CN"]
    assert cast.ga_other.username in new.texts["en"] and "Half the blame." in new.texts["en"]
    # The old letter stands as it was issued.
    assert "1000.00" in session.get(Letter, letter["id"]).texts["en"]
    stale = client.post(
        f"{url}/letters/{letter['id']}/appeal", json={"reason": "x"}, headers=auth(cast.staff)
    )
    assert stale.status_code == 409 and "has been replaced" in stale.json()["detail"]


def test_an_appeal_revoked_by_the_general_manager(client, cast, auth, propose):
    finding_id, letter = _approved_letter(client, cast, auth, propose)
    url = f"{cast.path}/findings/{finding_id}"
    appeal = client.post(
        f"{url}/letters/{letter['id']}/appeal",
        json={"reason": "Not mine."},
        headers=auth(cast.staff),
    ).json()
    decided = client.post(
        f"{url}/appeals/{appeal['id']}/decide",
        json={"outcome": "revoked", "note": "Not the agent's doing."},
        headers=auth(cast.gm),
    )
    assert decided.status_code == 200 and decided.json()["state"] == "revoked"
    current = _finding(client, cast, auth, cast.staff, finding_id)["letters"][-1]
    assert current["revoked"] is True and current["penalty_amount"] == "0.00"
    assert "撤销原考核决定" in current["text"]


def test_an_appeal_upheld_keeps_the_letter(client, cast, auth, propose):
    finding_id, letter = _approved_letter(client, cast, auth, propose)
    url = f"{cast.path}/findings/{finding_id}"
    appeal = client.post(
        f"{url}/letters/{letter['id']}/appeal",
        json={"reason": "Too much."},
        headers=auth(cast.staff),
    ).json()
    decided = client.post(
        f"{url}/appeals/{appeal['id']}/decide",
        json={"outcome": "upheld", "note": "It stands."},
        headers=auth(cast.ga_other),
    )
    assert decided.json()["state"] == "upheld" and decided.json()["new_letter"] is None
    assert len(_finding(client, cast, auth, cast.staff, finding_id)["letters"]) == 1


def test_a_variation_beyond_the_deciders_authority_is_refused(client, cast, auth, propose):
    finding_id, letter = _approved_letter(client, cast, auth, propose)
    url = f"{cast.path}/findings/{finding_id}"
    appeal = client.post(
        f"{url}/letters/{letter['id']}/appeal", json={"reason": "x"}, headers=auth(cast.staff)
    ).json()
    response = client.post(
        f"{url}/appeals/{appeal['id']}/decide",
        json={"outcome": "varied", "note": "more", "penalty_amount": 8000},
        headers=auth(cast.ga_other),
    )
    assert response.status_code == 403 and "general manager" in response.json()["detail"]


def test_the_general_manager_s_ruling_is_final_when_no_one_else_holds_it(
    client, cast, auth, propose
):
    finding_id, letter = _approved_letter(client, cast, auth, propose, 6000, approver=cast.gm)
    response = client.post(
        f"{cast.path}/findings/{finding_id}/letters/{letter['id']}/appeal",
        json={"reason": "x"},
        headers=auth(cast.staff),
    )
    assert response.status_code == 409 and "总经理最终裁定" in response.json()["detail"]


def test_an_appeal_after_the_deadline_is_refused(client, cast, auth, propose, frozen_clock):
    from datetime import timedelta

    finding_id, letter = _approved_letter(client, cast, auth, propose)
    frozen_clock.advance(timedelta(days=16))
    response = client.post(
        f"{cast.path}/findings/{finding_id}/letters/{letter['id']}/appeal",
        json={"reason": "late"},
        headers=auth(cast.staff),
    )
    assert response.status_code == 409 and "ended on" in response.json()["detail"]


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"loss_amount": -1}, "loss_amount"),
        ({"penalty_amount": "5000"}, "penalty_amount"),
        ({"penalty_amount": 1.234}, "penalty_amount"),
        ({"penalty_kind": "flogging"}, "penalty_kind"),
        ({"people": ["nobody.here"]}, "people"),
        ({"departments": ["no-such-team"]}, "departments"),
        ({"facts": ""}, "facts"),
    ],
)
def test_bad_input_is_refused_naming_the_field(client, cast, auth, propose, fields, field):
    fields = dict(fields)  # the parameters are shared by both databases' runs
    amount = fields.pop("penalty_amount", 1000)
    response = propose(amount, **fields)
    assert response.status_code == 422, response.text
    body = response.json()
    named = body.get("field") or ".".join(
        str(part) for part in body["errors"][0]["field"].split(".")
    )
    assert field in named
    assert client.get(cast.path, headers=auth(cast.duty)).json()["findings"] == []


def test_a_varied_decision_without_a_penalty_is_refused(client, cast, auth, propose):
    finding_id, letter = _approved_letter(client, cast, auth, propose)
    url = f"{cast.path}/findings/{finding_id}"
    appeal = client.post(
        f"{url}/letters/{letter['id']}/appeal", json={"reason": "x"}, headers=auth(cast.staff)
    ).json()
    response = client.post(
        f"{url}/appeals/{appeal['id']}/decide",
        json={"outcome": "varied", "note": "less"},
        headers=auth(cast.ga_other),
    )
    assert response.status_code == 422 and response.json()["field"] == "penalty_amount"


# --- the timeline ----------------------------------------------------------------------------


def test_every_step_is_on_the_incident_timeline_without_names_or_money(
    client, cast, auth, propose, session
):
    finding_id, letter = _approved_letter(client, cast, auth, propose)
    url = f"{cast.path}/findings/{finding_id}"
    appeal = client.post(
        f"{url}/letters/{letter['id']}/appeal", json={"reason": "x"}, headers=auth(cast.staff)
    ).json()
    client.post(
        f"{url}/appeals/{appeal['id']}/decide",
        json={"outcome": "revoked", "note": "no"},
        headers=auth(cast.gm),
    )
    events = session.exec(
        select(TimelineEvent)
        .where(
            TimelineEvent.subject_type == "incident",
            TimelineEvent.subject_id == cast.incident.id,
            TimelineEvent.kind.startswith("accountability."),  # type: ignore[attr-defined]
        )
        .order_by(TimelineEvent.id)
    ).all()
    assert [event.kind for event in events] == [
        "accountability.proposed",
        "accountability.approved",
        "accountability.letter_issued",
        "accountability.appealed",
        "accountability.appeal_decided",
        "accountability.letter_issued",
    ]
    for event in events:
        said = f"{event.summary} {event.data}"
        assert "1000" not in said and cast.staff.username not in said
    chinese = [event_text(event, Reading(Locale.zh_CN, "Asia/Shanghai")) for event in events]
    assert chinese[0] == f"已提出责任认定 {finding_id},待综合部核准"
    assert chinese[1] == f"责任认定 {finding_id} 已由综合部核准"
    assert chinese[4] == f"对考核决定书 {letter['number']} 的申诉已决定:撤销原决定"
    english = event_text(events[2], Reading(Locale.en, "Asia/Shanghai"))
    assert (
        english == f"Decision letter {letter['number']} (version 1) issued on finding {finding_id}"
    )


def test_a_major_ruling_reads_as_the_general_manager_s(client, cast, auth, propose, session):
    finding = propose(100, major=True).json()
    client.post(f"{cast.path}/findings/{finding['id']}/approve", json={}, headers=auth(cast.gm))
    approved = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == "accountability.approved")
    ).one()
    assert event_text(approved, Reading(Locale.zh_CN, "Asia/Shanghai")) == (
        f"总经理裁决责任认定 {finding['id']}:核准处罚"
    )


def test_the_demo_organisation_has_general_affairs_and_one_general_manager(demo_org):
    from incident_cmd.accountability import service
    from incident_cmd.auth import service as auth_service

    def held(username):
        user = auth_service.get_user_by_username(demo_org, username=username)
        return service.authorities_of(demo_org, user=user)

    assert held("ga.song") == {Authority.general_affairs} == held("ga.lu")
    assert held("gm.zhang") == {Authority.general_manager}
    assert held("dgm.wang") == set() and held("duty") == set()
