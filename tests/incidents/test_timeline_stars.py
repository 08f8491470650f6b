"""Stars on the timeline: an entry marked for the post-incident review. The entry itself never
changes (timeline_events is append-only); the star is a row of its own, one per entry, and
giving or taking it back is itself on the incident's timeline."""

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from incident_cmd import clock
from incident_cmd.auth.models import Role
from incident_cmd.errors import Invalid, NotFound
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent, TimelineStar
from tests.factories import make_user


def _entries(client, incident, auth) -> list[dict]:
    response = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=auth)
    assert response.status_code == 200
    return response.json()


def _first(client, incident, auth, kind="incident.declared") -> dict:
    return next(entry for entry in _entries(client, incident, auth) if entry["kind"] == kind)


def _star_path(incident, entry_id) -> str:
    return f"/api/v1/incidents/{incident['id']}/timeline/{entry_id}/star"


# --- the model and the service -----------------------------------------------------------


@pytest.fixture
def entry(session) -> TimelineEvent:
    event = timeline.append(
        session,
        subject_type="incident",
        subject_id=4242,
        kind="update.internal",
        summary="Warehouse B7 frozen",
        actor_id=None,
    )
    session.flush()
    return event


def _kinds(session, subject_id: int) -> list[str]:
    return list(
        session.exec(
            select(TimelineEvent.kind)
            .where(TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == subject_id)
            .order_by(TimelineEvent.id)
        )
    )


def test_an_entry_has_at_most_one_star(session, entry):
    first, second = make_user(session, Role.responder), make_user(session, Role.duty_manager)
    session.add(TimelineStar(event_id=entry.id, starred_by=first.id, starred_at=clock.now()))
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(TimelineStar(event_id=entry.id, starred_by=second.id, starred_at=clock.now()))


def test_starring_is_on_the_timeline_and_a_second_star_keeps_the_first(session, entry):
    first, second = make_user(session, Role.responder), make_user(session, Role.duty_manager)
    marked = timeline.star(session, event=entry, actor_id=first.id)
    again = timeline.star(session, event=entry, actor_id=second.id)
    assert again.id == marked.id and again.starred_by == first.id
    assert _kinds(session, entry.subject_id) == ["update.internal", timeline.STARRED]
    recorded = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == timeline.STARRED)
    ).one()
    assert recorded.actor_id == first.id and recorded.data == {"event_id": entry.id}
    assert "“Warehouse B7 frozen” starred for the review" in recorded.summary
    assert timeline.stars_among(session, event_ids=[entry.id, recorded.id]) == {entry.id: marked}
    assert list(
        timeline.starred_events(session, subject_type="incident", subject_id=entry.subject_id)
    ) == [entry]
    session.refresh(entry)
    assert entry.summary == "Warehouse B7 frozen"  # the entry itself is as it was written


def test_unstarring_takes_the_star_back_whoever_gave_it(session, entry):
    first, second = make_user(session, Role.responder), make_user(session, Role.comms)
    assert timeline.unstar(session, event=entry, actor_id=second.id) is False
    timeline.star(session, event=entry, actor_id=first.id)
    assert timeline.unstar(session, event=entry, actor_id=second.id) is True
    assert timeline.star_of(session, event_id=entry.id) is None
    assert _kinds(session, entry.subject_id) == [
        "update.internal",
        timeline.STARRED,
        timeline.UNSTARRED,
    ]
    taken_back = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == timeline.UNSTARRED)
    ).one()
    assert taken_back.actor_id == second.id
    assert taken_back.data == {"event_id": entry.id, "starred_by": first.id}


def test_a_stars_own_entry_cannot_be_starred(session, entry):
    person = make_user(session, Role.responder)
    timeline.star(session, event=entry, actor_id=person.id)
    star_entry = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == timeline.STARRED)
    ).one()
    with pytest.raises(Invalid, match="cannot be starred"):
        timeline.star(session, event=star_entry, actor_id=person.id)


def test_an_entry_is_found_only_on_its_own_subjects_timeline(session, entry):
    found = timeline.entry_of(
        session, subject_type="incident", subject_id=entry.subject_id, event_id=entry.id
    )
    assert found is entry
    for subject_type, subject_id, event_id in (
        ("incident", entry.subject_id + 1, entry.id),
        ("ticket", entry.subject_id, entry.id),
        ("incident", entry.subject_id, entry.id + 1000),
    ):
        with pytest.raises(NotFound):
            timeline.entry_of(
                session, subject_type=subject_type, subject_id=subject_id, event_id=event_id
            )


def test_two_people_starring_at_once_both_get_the_one_star(fresh_database, monkeypatch):
    with Session(fresh_database.engine) as setup:
        first = make_user(setup, Role.responder)
        second = make_user(setup, Role.duty_manager)
        event = timeline.append(
            setup,
            subject_type="incident",
            subject_id=7,
            kind="update.internal",
            summary="hot batch",
            actor_id=None,
        )
        setup.commit()
        event_id, first_id, second_id = event.id, first.id, second.id
    with Session(fresh_database.engine) as one, Session(fresh_database.engine) as other:
        theirs = timeline.star(one, event=one.get_one(TimelineEvent, event_id), actor_id=first_id)
        theirs_id = theirs.id
        one.commit()
        # The second looked before the first's star was committed.
        monkeypatch.setattr(timeline, "star_of", lambda session, *, event_id: None)
        mine = timeline.star(
            other, event=other.get_one(TimelineEvent, event_id), actor_id=second_id
        )
        other.commit()
        assert mine.id == theirs_id and mine.starred_by == first_id
        assert _kinds(other, 7) == ["update.internal", timeline.STARRED]


# --- the API -----------------------------------------------------------------------------


def test_who_may_post_an_internal_update_may_star_and_unstar(
    client, session, incident, people, as_user
):
    responder = make_user(session, Role.responder)
    entry = _first(client, incident, as_user(people.duty))
    for who in (responder, people.duty, people.comms, people.admin):
        starred = client.post(_star_path(incident, entry["id"]), headers=as_user(who))
        assert starred.status_code == 200, starred.text
        assert starred.json()["event_id"] == entry["id"]
        assert starred.json()["starred_by"] == who.username
        removed = client.delete(_star_path(incident, entry["id"]), headers=as_user(who))
        assert removed.status_code == 204 and removed.content == b""
    for who in (people.agent, people.viewer):
        assert (
            client.post(_star_path(incident, entry["id"]), headers=as_user(who)).status_code == 403
        )
        assert (
            client.delete(_star_path(incident, entry["id"]), headers=as_user(who)).status_code
            == 403
        )
    kinds = [item["kind"] for item in _entries(client, incident, as_user(people.viewer))]
    assert kinds.count(timeline.STARRED) == 4 and kinds.count(timeline.UNSTARRED) == 4
    assert timeline.star_of(session, event_id=entry["id"]) is None


def test_starring_twice_keeps_one_star_and_one_entry(client, incident, people, as_user):
    duty = as_user(people.duty)
    entry = _first(client, incident, duty)
    first = client.post(_star_path(incident, entry["id"]), headers=duty)
    second = client.post(_star_path(incident, entry["id"]), headers=as_user(people.comms))
    assert second.status_code == 200
    assert second.json() == first.json()  # the first star stands: who and when
    kinds = [item["kind"] for item in _entries(client, incident, duty)]
    assert kinds.count(timeline.STARRED) == 1
    # Taking back a star that is not there changes nothing.
    assert client.delete(_star_path(incident, entry["id"]), headers=duty).status_code == 204
    assert client.delete(_star_path(incident, entry["id"]), headers=duty).status_code == 204
    kinds = [item["kind"] for item in _entries(client, incident, duty)]
    assert kinds.count(timeline.UNSTARRED) == 1


def test_only_an_entry_of_that_incident_can_be_starred(client, incident, people, as_user):
    duty = as_user(people.duty)
    other = client.post(
        "/api/v1/incidents",
        json={
            "playbook": "product-recall",
            "title": "Another batch",
            "severity": "sev2",
            "scope": {"products": ["PX-300"]},
        },
        headers=duty,
    ).json()
    foreign = _first(client, other, duty)
    refused = client.post(_star_path(incident, foreign["id"]), headers=duty)
    assert refused.status_code == 404 and "timeline" in refused.json()["detail"]
    assert client.post(_star_path(incident, 999999), headers=duty).status_code == 404
    missing = client.post(f"/api/v1/incidents/999999/timeline/{foreign['id']}/star", headers=duty)
    assert missing.status_code == 404
    starred = client.post(_star_path(incident, _first(client, incident, duty)["id"]), headers=duty)
    star_entry = _first(client, incident, duty, kind=timeline.STARRED)
    refused = client.post(_star_path(incident, star_entry["id"]), headers=duty)
    assert starred.status_code == 200 and refused.status_code == 422
    assert refused.json()["field"] == "event_id"
