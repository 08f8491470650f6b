"""The monthly review's lessons and improvement proposals, written by its reviewer, and its
sending to the management list by the 10th (seed 001 4-1-7): by the reviewer, or by itself when
it falls due unsent; once."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.auth.models import Role, User
from incident_cmd.config import PROJECT_ROOT, get_settings
from incident_cmd.i18n import Locale
from incident_cmd.messaging.direct import direct_sender
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.tickets import intake, lifecycle, review
from incident_cmd.tickets.schemas import ReviewNoteKind, TicketAction, TicketCreate, TicketResolve
from incident_cmd.timeline import service as timeline
from tests.factories import bearer, make_service_desk, make_user

# 1 December, 09:00 in Shanghai: November is over, its review due on the 10th at 09:00.
DECEMBER_FIRST = datetime(2026, 12, 1, 1, tzinfo=UTC)
DUE = datetime(2026, 12, 10, 1, tzinfo=UTC)
NOTES = "/api/v1/reviews/monthly/2026-11/notes"
SEND = "/api/v1/reviews/monthly/2026-11/send"


@pytest.fixture
def december(frozen_clock):
    frozen_clock.set(DECEMBER_FIRST)
    return frozen_clock


@pytest.fixture
def duty(queue):
    return bearer(queue.session, queue.user(queue.desk.duty_manager))


def _managers(session) -> list[User]:
    query = select(User).where(col(User.role).in_([Role.admin, Role.duty_manager]))
    return list(session.exec(query).all())


def _review_mail(session) -> list[DirectMessage]:
    query = select(DirectMessage).where(DirectMessage.source == review.SOURCE)
    return list(session.exec(query.order_by(col(DirectMessage.id))).all())


def test_the_reviewer_writes_lessons_and_proposals_into_the_review(client, queue, december, duty):
    lesson = client.post(
        NOTES, json={"kind": "lesson", "text": "夜班漏接电话导致响应超时"}, headers=duty
    )
    assert lesson.status_code == 201, lesson.text
    assert lesson.json()["by"] == queue.desk.duty_manager
    proposal = {"kind": "proposal", "text": "Add a second agent to the night shift"}
    assert client.post(NOTES, json=proposal, headers=duty).status_code == 201
    report = client.get("/api/v1/reviews/monthly/2026-11", headers=duty).json()
    assert [note["text"] for note in report["lessons"]] == ["夜班漏接电话导致响应超时"]
    assert [note["text"] for note in report["proposals"]] == [proposal["text"]]
    assert report["sent"] is None


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (NOTES, {"kind": "lesson", "text": ""}, 422, "text"),
        (NOTES, {"kind": "lesson", "text": "   "}, 422, "text"),
        (NOTES, {"kind": "praise", "text": "x"}, 422, "kind"),
        (NOTES, {"kind": "lesson", "text": "x" * 2001}, 422, "text"),
        # December is not over on the 1st: nothing to review yet.
        ("/api/v1/reviews/monthly/2026-12/notes", {"kind": "lesson", "text": "x"}, 422, "period"),
    ],
)
def test_a_bad_note_names_its_field_and_adds_nothing(
    client, queue, december, duty, path, body, status, field
):
    response = client.post(path, json=body, headers=duty)
    assert response.status_code == status
    assert field in response.text
    report = review.monthly_review(queue.session, period="2026-11")
    assert report["lessons"] == [] and report["proposals"] == []


def test_only_duty_managers_review(client, queue, december):
    agent = bearer(queue.session, queue.user(queue.agent))
    note = {"kind": "lesson", "text": "x"}
    assert client.post(NOTES, json=note, headers=agent).status_code == 403
    assert client.post(SEND, headers=agent).status_code == 403
    assert _review_mail(queue.session) == []


def test_the_reviewer_sends_it_once_to_every_manager_in_their_language(
    client, queue, december, duty
):
    english = make_user(queue.session, Role.admin, email="cfo@example.com", locale=Locale.en)
    make_user(queue.session, Role.duty_manager)  # no email: named as not reached
    gone = make_user(queue.session, Role.duty_manager, email="gone@example.com")
    gone.active = False
    queue.session.add(gone)
    review.add_note(
        queue.session,
        period="2026-11",
        kind=ReviewNoteKind.lesson,
        text="退款审批太慢",
        actor=queue.user(queue.desk.duty_manager),
    )
    sent = client.post(SEND, headers=duty)
    assert sent.status_code == 200, sent.text
    reached = [user for user in _managers(queue.session) if user.active and user.email]
    mail = _review_mail(queue.session)
    assert sorted(message.address for message in mail) == sorted(u.email for u in reached)
    assert sent.json()["by"] == queue.desk.duty_manager
    assert sorted(sent.json()["recipients"]) == sorted(user.username for user in reached)
    assert len(sent.json()["not_reached"]) == 1
    to_cfo = next(message for message in mail if message.address == english.email)
    assert to_cfo.subject == "Complaint review for 2026-11" and "退款审批太慢" in to_cfo.body
    chinese = next(message for message in mail if message.address != english.email)
    assert chinese.subject == "2026-11 投诉月度复盘" and "经验教训" in chinese.body
    assert "(复盘人未填写)" in chinese.body  # no proposal was written
    # Once: a second send is refused, and so is a lesson that would never reach anyone.
    assert client.post(SEND, headers=duty).status_code == 409
    late = client.post(NOTES, json={"kind": "proposal", "text": "x"}, headers=duty)
    assert late.status_code == 409 and "sent" in late.text
    assert len(_review_mail(queue.session)) == len(mail)
    [entry] = [
        event
        for event in timeline.events_for(
            queue.session, subject_type=review.SUBJECT, subject_id=202611
        )
        if event.kind == "review.sent"
    ]
    assert entry.data["count"] == len(reached) and entry.data["by_itself"] is False


def test_unsent_it_goes_out_by_itself_on_the_tenth_once(queue, frozen_clock):
    frozen_clock.set(DUE - timedelta(minutes=1))
    assert review.send_due_review(queue.session) == 0
    frozen_clock.set(DUE)
    assert review.send_due_review(queue.session) == 1
    assert review.send_due_review(queue.session) == 0
    report = review.monthly_review(queue.session, period="2026-11")
    assert report["sent"]["by"] is None and report["sent"]["at"] == DUE.isoformat()
    assert len(_review_mail(queue.session)) == len(
        [user for user in _managers(queue.session) if user.active and user.email]
    )


def test_a_review_sent_early_is_not_sent_again_on_the_tenth(client, queue, december, duty):
    assert client.post(SEND, headers=duty).status_code == 200
    sent = len(_review_mail(queue.session))
    december.set(DUE + timedelta(hours=1))
    assert review.send_due_review(queue.session) == 0
    assert len(_review_mail(queue.session)) == sent


def test_the_configured_management_list_replaces_the_default(
    queue, december, monkeypatch, tmp_path
):
    board = make_user(queue.session, Role.viewer, email="board@example.com")
    shipped = (PROJECT_ROOT / "config" / "service-levels.yaml").read_text(encoding="utf-8")
    custom = tmp_path / "service-levels.yaml"
    custom.write_text(
        shipped.replace("recipients: []", f"recipients: [{board.username}, nobody.here]"),
        encoding="utf-8",
    )
    monkeypatch.setenv("INCIDENT_CMD_SERVICE_LEVELS_FILE", str(custom))
    get_settings.cache_clear()
    sent = review.send(queue.session, period="2026-11", actor=None)
    assert sent["recipients"] == [board.username] and sent["not_reached"] == ["nobody.here"]
    assert [message.address for message in _review_mail(queue.session)] == ["board@example.com"]


def test_the_review_reaches_a_real_mail_server(use_database, smtp, shipped_playbooks, december):
    december.set(DECEMBER_FIRST - timedelta(days=1))
    with db.session_scope() as session:
        desk = make_service_desk(session)
        duty = session.exec(select(User).where(User.username == desk.duty_manager)).one()
        ticket = intake.take_in(
            session,
            data=TicketCreate(description="kettle leaks", phone="+8613900000001", channel="phone"),
            registry=shipped_playbooks,
            actor=duty,
        )
        lifecycle.resolve(
            session, ticket=ticket, data=TicketResolve(resolution="replaced"), actor=duty
        )
        lifecycle.change_status(
            session, ticket=ticket, change=TicketAction(status="closed"), actor=duty
        )
    december.set(DECEMBER_FIRST)
    with db.session_scope() as session:
        duty = session.exec(select(User).where(User.username == desk.duty_manager)).one()
        review.add_note(
            session,
            period="2026-11",
            kind=ReviewNoteKind.proposal,
            text="Call back every refund within a day",
            actor=duty,
        )
        expected = {user.email for user in _managers(session) if user.active and user.email}
        review.send(session, period="2026-11", actor=None)

    async def drain() -> int:
        sender = direct_sender(db.get_engine())
        try:
            return await sender.drain()
        finally:
            await sender.close()

    asyncio.run(drain())
    assert expected and {to for tos, _ in smtp.messages for to in tos} == expected
    for _, mail in smtp.messages:
        text = mail.get_body(("plain",)).get_content()
        assert "Call back every refund within a day" in text
        assert "结案 1 件" in text or "1 cases closed" in text
