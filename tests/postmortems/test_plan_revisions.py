"""A finding proposes a playbook change: the whole file, checked as the loader checks it
(refused with its line and field, nothing kept), shown as a diff against the file as it is
now, accepted or rejected by the commander or a duty manager; the product never writes the
playbook directory."""

from sqlmodel import col, select

from incident_cmd.config import get_settings
from incident_cmd.postmortems import revisions
from incident_cmd.postmortems.models import PlanRevision
from incident_cmd.timeline.models import TimelineEvent


def _resolve(client, cast, auth) -> None:
    response = client.post(
        f"{cast.path}/status", json={"status": "resolved"}, headers=auth(cast.duty)
    )
    assert response.status_code == 200, response.text


def _current(shipped_playbooks) -> str:
    return shipped_playbooks.get("product-recall").path.read_text(encoding="utf-8")


def _kinds(session, cast) -> list[str]:
    return list(
        session.exec(
            select(TimelineEvent.kind)
            .where(TimelineEvent.subject_id == cast.incident.id)
            .where(col(TimelineEvent.kind).startswith("postmortem.revision"))
            .order_by(TimelineEvent.id)
        )
    )


def _propose(client, cast, auth, text, who=None):
    return client.post(
        f"{cast.path}/review/revisions",
        json={
            "playbook": "product-recall",
            "finding": "The timeline took too long to reconstruct",
            "text": text,
        },
        headers=auth(who or cast.deputy),
    )


def test_a_proposal_is_shown_as_a_diff_against_the_file(
    client, session, cast, auth, shipped_playbooks
):
    _resolve(client, cast, auth)
    before = _current(shipped_playbooks)
    proposed = before.replace(
        "    role: deputy\n    due_after_resolution: 3d\n",
        "    role: deputy\n    due_after_resolution: 2d\n",
        1,
    )
    assert proposed != before
    # A browser sends a textarea's lines ending in CRLF.
    response = _propose(client, cast, auth, proposed.replace("\n", "\r\n"))
    assert response.status_code == 201, response.text
    revision = response.json()
    assert revision["state"] == "proposed" and revision["proposed_by"] == cast.deputy.username
    diff = revision["diff"].splitlines()
    assert diff[:2] == [
        "--- a/playbooks/product-recall.yaml",
        "+++ b/playbooks/product-recall.yaml",
    ]
    assert "-    due_after_resolution: 3d" in diff and "+    due_after_resolution: 2d" in diff
    assert sum(1 for line in diff if line.startswith(("+ ", "- ", "+  ", "-  "))) == 2
    # Shown in the review, and never written to the playbook directory.
    review = client.get(f"{cast.path}/review", headers=auth(cast.viewer)).json()
    assert [item["id"] for item in review["revisions"]] == [revision["id"]]
    assert _current(shipped_playbooks) == before
    assert _kinds(session, cast) == ["postmortem.revision_proposed"]


def test_invalid_yaml_is_refused_with_its_line_and_nothing_is_kept(
    client, session, cast, auth, shipped_playbooks
):
    _resolve(client, cast, auth)
    lines = _current(shipped_playbooks).splitlines(keepends=True)
    at = next(number for number, line in enumerate(lines) if "ack_within:" in line)
    wrong = lines.copy()
    wrong[at] = wrong[at].replace(wrong[at].split("ack_within:")[1].strip(), "a quarter hour")
    refused = _propose(client, cast, auth, "".join(wrong))
    assert refused.status_code == 422
    body = refused.json()
    assert body["field"] == "text"
    assert f"product-recall.yaml:{at + 1}: roles[" in body["detail"]
    assert ".ack_within:" in body["detail"]
    broken = lines.copy()
    broken[3] = "title: [never closed\n"
    refused = _propose(client, cast, auth, "".join(broken))
    assert refused.status_code == 422 and "not valid YAML" in refused.json()["detail"]
    assert "product-recall.yaml:" in refused.json()["detail"]
    renamed = "".join(lines).replace("key: product-recall\n", "key: product-recall-2\n", 1)
    refused = _propose(client, cast, auth, renamed)
    assert refused.status_code == 422 and "keeps its key" in refused.json()["detail"]
    unchanged = _propose(client, cast, auth, "".join(lines))
    assert unchanged.status_code == 422 and "nothing is revised" in unchanged.json()["detail"]
    assert session.exec(select(PlanRevision)).all() == []
    assert _kinds(session, cast) == []


def test_the_commander_accepts_or_rejects_once(client, session, cast, auth, shipped_playbooks):
    _resolve(client, cast, auth)
    text = _current(shipped_playbooks) + "# one more line\n"
    first = _propose(client, cast, auth, text).json()
    second = _propose(client, cast, auth, text + "# and another\n").json()
    path = f"{cast.path}/review/revisions"
    # The quality lead sits on the roster (may propose) but does not decide.
    assert (
        client.post(f"{path}/{first['id']}/accept", json={}, headers=auth(cast.quality))
    ).status_code == 403
    accepted = client.post(
        f"{path}/{first['id']}/accept", json={"note": "apply it"}, headers=auth(cast.commander)
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    assert accepted.json()["decided_by"] == cast.commander.username
    rejected = client.post(f"{path}/{second['id']}/reject", json={}, headers=auth(cast.duty))
    assert rejected.json()["state"] == "rejected"
    again = client.post(f"{path}/{first['id']}/reject", json={}, headers=auth(cast.duty))
    assert again.status_code == 409 and "already accepted" in again.json()["detail"]
    assert _kinds(session, cast) == [
        "postmortem.revision_proposed",
        "postmortem.revision_proposed",
        "postmortem.revision_accepted",
        "postmortem.revision_rejected",
    ]


def test_the_diff_follows_the_file_as_it_is_now(
    session, cast, shipped_playbooks, tmp_path, monkeypatch
):
    """Once someone applied the revision in git, the file reads as proposed: no diff left."""
    loaded = shipped_playbooks.get("product-recall")
    text = loaded.path.read_text(encoding="utf-8") + "# applied\n"
    revision = PlanRevision(
        incident_id=cast.incident.id,
        playbook_key="product-recall",
        playbook_file=loaded.path.name,
        finding="x",
        proposed_text=text,
        proposed_by=cast.duty.id,
        proposed_at=cast.incident.declared_at,
    )
    assert "+# applied" in revisions.revision_diff(revision)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / loaded.path.name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("INCIDENT_CMD_PLAYBOOK_DIR", str(tmp_path / "playbooks"))
    get_settings.cache_clear()
    assert revisions.revision_diff(revision) == ""
