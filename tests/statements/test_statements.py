"""A statement is drafted by the spokesperson, approved by a second person (the commander or
a duty manager), published as the incident's next version, and corrected only by a new
version; each step is on the incident's timeline."""

import pytest
from sqlmodel import select

from incident_cmd.playbooks.schema import PublicStatus
from incident_cmd.statements import service
from incident_cmd.statements.models import Statement, StatementStage
from incident_cmd.timeline.models import TimelineEvent

RECALL_IDENTIFIED_ZH = (
    "已确认受影响的型号和批次,召回程序已启动,我们将通过短信和邮件通知受影响客户。"
)


def draft(client, cast, auth, who, **body):
    return client.post(cast.path, json={"stage": "identified", **body}, headers=auth(who))


def step(client, cast, auth, who, statement_id, verb):
    return client.post(f"{cast.path}/{statement_id}/{verb}", headers=auth(who))


def published(client, cast, auth, **body) -> dict:
    drafted = draft(client, cast, auth, cast.spokesperson, **body)
    assert drafted.status_code == 201, drafted.text
    statement_id = drafted.json()["id"]
    assert step(client, cast, auth, cast.duty, statement_id, "approve").status_code == 200
    done = step(client, cast, auth, cast.spokesperson, statement_id, "publish")
    assert done.status_code == 200, done.text
    return done.json()


def entries(session, cast, prefix="statement."):
    rows = session.exec(
        select(TimelineEvent)
        .where(
            TimelineEvent.subject_type == "incident", TimelineEvent.subject_id == cast.incident.id
        )
        .order_by(TimelineEvent.id)
    ).all()
    return [row for row in rows if row.kind.startswith(prefix)]


def test_drafted_from_the_playbook_template_approved_and_published(client, cast, auth, session):
    drafted = draft(client, cast, auth, cast.spokesperson)

    assert drafted.status_code == 201, drafted.text
    statement = drafted.json()
    assert statement["status"] == "draft" and statement["version"] is None
    assert statement["text"]["zh-CN"] == RECALL_IDENTIFIED_ZH
    assert statement["template"] == "identified"
    # The title is the playbook's and the products', never the incident's own.
    assert statement["title"] == {
        "zh-CN": "产品质量召回 · PX-200",
        "en": "Product quality recall · PX-200",
    }
    assert cast.incident.title not in str(statement)

    approved = step(client, cast, auth, cast.commander, statement["id"], "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == cast.commander.username
    done = step(client, cast, auth, cast.spokesperson, statement["id"], "publish")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "published" and done.json()["version"] == 1
    session.refresh(cast.incident)
    assert cast.incident.public_status == PublicStatus.identified  # what the public was told

    kinds = [(entry.kind, entry.public) for entry in entries(session, cast)]
    assert kinds == [
        ("statement.drafted", False),
        ("statement.approved", False),
        ("statement.published", True),
    ]
    drafted_entry, approved_entry, last = entries(session, cast)
    assert drafted_entry.data["template"] == "identified"
    assert approved_entry.actor_id == cast.commander.id
    assert approved_entry.data["statement_id"] == statement["id"]
    assert approved_entry.data["title"] == statement["title"]
    assert last.actor_id == cast.spokesperson.id
    assert last.data["version"] == 1 and last.data["stage"] == "identified"
    assert last.data["title"]["en"] == "Product quality recall · PX-200"


def test_written_text_is_kept_and_not_called_the_template(client, cast, auth):
    texts = {
        "title": {"zh-CN": " PX-200 电暖器召回 ", "en": "PX-200 heater recall"},
        "text": {"zh-CN": "批次 B7 存在过热隐患。", "en": "Batch B7 may overheat."},
        "advice": {"zh-CN": "请立即停止使用。", "en": "Stop using it now."},
    }
    drafted = draft(client, cast, auth, cast.spokesperson, **texts)

    assert drafted.status_code == 201, drafted.text
    statement = drafted.json()
    assert statement["title"]["zh-CN"] == "PX-200 电暖器召回"
    assert statement["advice"] == texts["advice"] and statement["template"] is None


def test_a_recall_stage_takes_the_playbooks_template_for_it(client, cast, auth):
    drafted = draft(client, cast, auth, cast.spokesperson, stage="recall_announced")

    assert drafted.status_code == 201
    assert drafted.json()["text"]["zh-CN"].startswith("我们决定主动召回")
    assert drafted.json()["stage"] == "recall_announced"


def test_a_stage_without_a_template_of_its_own_takes_its_status_page_stages(shipped_playbooks):
    recall = shipped_playbooks.get("product-recall").playbook
    without_recall_stages = recall.model_copy(
        update={
            "status_templates": [
                item for item in recall.status_templates if not item.key.startswith("recall_")
            ]
        }
    )

    chosen = service.template_for(without_recall_stages, StatementStage.recall_announced)

    assert chosen is not None and chosen.body.model_dump(by_alias=True)["zh-CN"] == (
        RECALL_IDENTIFIED_ZH
    )


def test_the_responder_in_the_spokespersons_seat_drafts_and_publishes(client, cast, auth):
    drafted = draft(client, cast, auth, cast.seated_spokesperson)
    assert drafted.status_code == 201, drafted.text
    statement_id = drafted.json()["id"]
    assert step(client, cast, auth, cast.duty, statement_id, "approve").status_code == 200
    done = step(client, cast, auth, cast.seated_spokesperson, statement_id, "publish")
    assert done.status_code == 200, done.text


@pytest.mark.parametrize("who", ["viewer", "agent", "responder", "duty", "commander"])
def test_only_the_spokesperson_drafts(client, cast, auth, session, who):
    refused = draft(client, cast, auth, getattr(cast, who))

    assert refused.status_code == 403, refused.text
    assert session.exec(select(Statement)).all() == []
    assert entries(session, cast) == []


def test_whoever_drafted_may_not_approve_it_even_an_admin(client, cast, auth, session):
    drafted = draft(client, cast, auth, cast.admin).json()

    refused = step(client, cast, auth, cast.admin, drafted["id"], "approve")

    assert refused.status_code == 403
    assert "second person" in refused.json()["detail"]
    assert [entry.kind for entry in entries(session, cast)] == ["statement.drafted"]
    assert step(client, cast, auth, cast.duty, drafted["id"], "approve").status_code == 200


@pytest.mark.parametrize("who", ["spokesperson", "seated_spokesperson", "responder", "agent"])
def test_only_the_commander_or_a_duty_manager_approves(client, cast, auth, who):
    drafted = draft(client, cast, auth, cast.admin).json()

    refused = step(client, cast, auth, getattr(cast, who), drafted["id"], "approve")

    assert refused.status_code == 403
    listed = client.get(cast.path, headers=auth(cast.viewer)).json()
    assert [item["status"] for item in listed] == ["draft"]


@pytest.mark.parametrize("who", ["agent", "viewer", "responder"])
def test_others_may_not_publish(client, cast, auth, who):
    statement_id = draft(client, cast, auth, cast.spokesperson).json()["id"]
    assert step(client, cast, auth, cast.duty, statement_id, "approve").status_code == 200

    refused = step(client, cast, auth, getattr(cast, who), statement_id, "publish")

    assert refused.status_code == 403
    listed = client.get(cast.path, headers=auth(cast.viewer)).json()
    assert [item["status"] for item in listed] == ["approved"]


def test_steps_out_of_order_are_refused(client, cast, auth):
    statement_id = draft(client, cast, auth, cast.spokesperson).json()["id"]

    unapproved = step(client, cast, auth, cast.spokesperson, statement_id, "publish")
    assert unapproved.status_code == 409 and unapproved.json()["field"] == "statement"
    assert step(client, cast, auth, cast.duty, statement_id, "approve").status_code == 200
    again = step(client, cast, auth, cast.commander, statement_id, "approve")
    assert again.status_code == 409
    assert step(client, cast, auth, cast.spokesperson, statement_id, "publish").status_code == 200
    twice = step(client, cast, auth, cast.spokesperson, statement_id, "publish")
    assert twice.status_code == 409
    assert client.get(cast.path, headers=auth(cast.viewer)).json()[0]["version"] == 1


def test_a_correction_is_a_new_version_and_the_first_is_kept(client, cast, auth, session):
    first = published(client, cast, auth)

    corrected = client.post(
        f"{cast.path}/{first['id']}/correct",
        json={
            "text": {
                "zh-CN": "更正:受影响批次为 B7 和 B8。",
                "en": "Correction: batches B7 and B8.",
            }
        },
        headers=auth(cast.spokesperson),
    )
    assert corrected.status_code == 201, corrected.text
    correction = corrected.json()
    assert correction["corrects"] == first["id"] and correction["status"] == "draft"
    assert correction["stage"] == first["stage"] and correction["title"] == first["title"]
    assert step(client, cast, auth, cast.commander, correction["id"], "approve").status_code == 200
    done = step(client, cast, auth, cast.spokesperson, correction["id"], "publish").json()

    assert done["version"] == 2
    listed = client.get(cast.path, headers=auth(cast.viewer)).json()
    assert [(item["version"], item["status"]) for item in listed] == [
        (2, "published"),
        (1, "published"),
    ]
    assert listed[1]["text"] == first["text"] and listed[1]["published_at"] == first["published_at"]
    published_entries = [
        entry for entry in entries(session, cast) if entry.kind.endswith("published")
    ]
    assert published_entries[-1].data["corrects_version"] == 1


def test_only_a_published_statement_is_corrected(client, cast, auth):
    statement_id = draft(client, cast, auth, cast.spokesperson).json()["id"]

    refused = client.post(
        f"{cast.path}/{statement_id}/correct", json={}, headers=auth(cast.spokesperson)
    )

    assert refused.status_code == 409 and refused.json()["field"] == "statement"


def test_a_correction_is_drafted_by_the_spokesperson_only(client, cast, auth):
    first = published(client, cast, auth)

    refused = client.post(f"{cast.path}/{first['id']}/correct", json={}, headers=auth(cast.duty))

    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": "fixed"}, "stage"),
        ({"stage": "identified", "text": {"zh-CN": "  ", "en": "ok"}}, "text.zh-CN"),
        ({"stage": "identified", "text": {"zh-CN": "好"}}, "text.en"),
        ({"stage": "identified", "title": {"zh-CN": "x" * 201, "en": "x"}}, "title.zh-CN"),
        ({"stage": "identified", "advice": {"zh-CN": "好", "en": "ok", "fr": "oui"}}, "advice.fr"),
        ({"stage": "identified", "extra": 1}, "extra"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(client, cast, auth, session, body, field):
    refused = client.post(cast.path, json=body, headers=auth(cast.spokesperson))

    assert refused.status_code == 422
    assert refused.json()["field"] == field
    assert session.exec(select(Statement)).all() == []


def test_a_stage_without_a_template_needs_its_text_written(
    client, session, shipped_playbooks, auth, cast
):
    from tests.factories import make_incident

    escalation = make_incident(session, registry=shipped_playbooks, playbook="complaint-escalation")
    path = f"/api/v1/incidents/{escalation.id}/statements"

    refused = client.post(path, json={"stage": "investigating"}, headers=auth(cast.spokesperson))
    assert refused.status_code == 422 and refused.json()["field"] == "text"
    written = client.post(
        path,
        json={
            "stage": "investigating",
            "text": {"zh-CN": "我们正在了解情况。", "en": "We are looking into it."},
        },
        headers=auth(cast.spokesperson),
    )
    assert written.status_code == 201


def test_a_statement_of_another_incident_is_not_found(
    client, cast, auth, session, shipped_playbooks
):
    from tests.factories import make_incident

    other = make_incident(session, registry=shipped_playbooks)
    statement_id = draft(client, cast, auth, cast.spokesperson).json()["id"]

    answer = client.post(
        f"/api/v1/incidents/{other.id}/statements/{statement_id}/approve", headers=auth(cast.duty)
    )

    assert answer.status_code == 404
    assert (
        client.get("/api/v1/incidents/999999/statements", headers=auth(cast.duty)).status_code
        == 404
    )


def test_every_stage_corresponds_to_a_status_page_stage():
    from incident_cmd.statements.models import StatementStage

    assert {stage.public_status for stage in StatementStage} == set(PublicStatus)
    assert [stage for stage in StatementStage if stage.final] == [
        StatementStage.resolved,
        StatementStage.recall_closed,
    ]
