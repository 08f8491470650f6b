"""A finding, or an accepted plan revision, asks for a drill (安排演练): a drill request the
drills take up through ``open_drill_requests`` and ``mark_drill_request_scheduled``; each
change on the incident's timeline."""

from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from incident_cmd.errors import Conflict
from incident_cmd.postmortems import drill_requests
from incident_cmd.postmortems.models import DrillRequest, DrillRequestState
from incident_cmd.timeline.models import TimelineEvent


@pytest.fixture
def in_review(client, cast, auth):
    response = client.post(
        f"{cast.path}/status", json={"status": "resolved"}, headers=auth(cast.duty)
    )
    assert response.status_code == 200, response.text
    return cast


def _drill_kinds(session, cast) -> list[str]:
    return list(
        session.exec(
            select(TimelineEvent.kind)
            .where(
                TimelineEvent.subject_id == cast.incident.id,
                col(TimelineEvent.kind).startswith("postmortem.drill"),
            )
            .order_by(col(TimelineEvent.id))
        )
    )


def _request(client, cast, auth, **body):
    return client.post(
        f"{cast.path}/review/drill-requests",
        json={"reason": "Rehearse the recall notice", "wanted_by": "2026-12-15"} | body,
        headers=auth(cast.deputy),
    )


def test_a_request_is_taken_up_by_the_drills_and_scheduled(client, session, in_review, auth):
    cast = in_review
    made = _request(client, cast, auth)
    assert made.status_code == 201, made.text
    request = made.json()
    assert request["playbook"] == "product-recall" and request["state"] == "requested"
    assert request["requested_by"] == cast.deputy.username and request["revision"] is None
    assert [item.id for item in drill_requests.open_drill_requests(session)] == [request["id"]]
    at = datetime(2026, 12, 10, 2, tzinfo=UTC)
    scheduled = drill_requests.mark_drill_request_scheduled(
        session, request_id=request["id"], scheduled_for=at
    )
    assert scheduled.state == DrillRequestState.scheduled and scheduled.scheduled_for == at
    # Asked again for the same time (a second worker, a retry): nothing more happens.
    drill_requests.mark_drill_request_scheduled(session, request_id=request["id"], scheduled_for=at)
    session.flush()
    assert drill_requests.open_drill_requests(session) == []
    review = client.get(f"{cast.path}/review", headers=auth(cast.viewer)).json()
    assert review["drill_requests"][0]["state"] == "scheduled"
    assert review["drill_requests"][0]["scheduled_for"] == "2026-12-10T02:00:00Z"
    # Once scheduled, the drills own it: the review cannot cancel it.
    refused = client.post(
        f"{cast.path}/review/drill-requests/{request['id']}/cancel", headers=auth(cast.deputy)
    )
    assert refused.status_code == 409
    assert _drill_kinds(session, cast) == [
        "postmortem.drill_requested",
        "postmortem.drill_scheduled",
    ]


def test_a_cancelled_request_is_not_scheduled(client, session, in_review, auth):
    cast = in_review
    request = _request(client, cast, auth).json()
    cancelled = client.post(
        f"{cast.path}/review/drill-requests/{request['id']}/cancel", headers=auth(cast.deputy)
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert drill_requests.open_drill_requests(session) == []
    with pytest.raises(Conflict, match="cancelled"):
        drill_requests.mark_drill_request_scheduled(
            session, request_id=request["id"], scheduled_for=datetime(2026, 12, 10, tzinfo=UTC)
        )
    assert _drill_kinds(session, cast) == [
        "postmortem.drill_requested",
        "postmortem.drill_cancelled",
    ]


def test_a_drill_of_a_revision_needs_it_accepted(
    client, session, in_review, auth, shipped_playbooks
):
    cast = in_review
    text = shipped_playbooks.get("product-recall").path.read_text(encoding="utf-8") + "# x\n"
    revision = client.post(
        f"{cast.path}/review/revisions",
        json={"playbook": "product-recall", "finding": "notices too late", "text": text},
        headers=auth(cast.deputy),
    ).json()
    refused = _request(client, cast, auth, revision=revision["id"])
    assert refused.status_code == 422 and refused.json()["field"] == "revision"
    assert "proposed" in refused.json()["detail"]
    client.post(
        f"{cast.path}/review/revisions/{revision['id']}/accept",
        json={},
        headers=auth(cast.commander),
    )
    made = _request(client, cast, auth, revision=revision["id"])
    assert made.status_code == 201, made.text
    assert made.json()["revision"] == revision["id"]
    assert made.json()["playbook"] == "product-recall"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"wanted_by": "2026-11-22"}, "wanted_by"),  # yesterday on the organisation's clock
        ({"reason": ""}, "reason"),
        ({"playbook": "no-such-playbook"}, "playbook"),
        ({"revision": 999}, "revision"),
    ],
)
def test_a_bad_request_names_its_field_and_keeps_nothing(
    client, session, in_review, auth, body, field
):
    refused = _request(client, in_review, auth, **body)
    assert refused.status_code == 422
    assert field in refused.text
    assert session.exec(select(DrillRequest)).all() == []


def test_only_people_of_the_roster_or_duty_managers_request(client, session, in_review, auth):
    refused = client.post(
        f"{in_review.path}/review/drill-requests",
        json={"reason": "x", "wanted_by": "2026-12-15"},
        headers=auth(in_review.responder),
    )
    assert refused.status_code == 403
    assert session.exec(select(DrillRequest)).all() == []
