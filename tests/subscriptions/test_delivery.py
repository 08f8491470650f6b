"""Subscriptions end to end over the real channels: the fake Twilio for SMS and an SMTP
server on loopback for email, the direct lane sending. Double opt-in, each published version
once, STOP and one-click unsubscribe, and drills that never send."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from incident_cmd import db
from incident_cmd.app import create_app
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.messaging import suppression
from incident_cmd.statements.models import Statement
from incident_cmd.subscriptions import service
from incident_cmd.subscriptions.models import Subscription, SubscriptionStatus
from tests.plugins.messaging import send_direct
from tests.plugins.subscriptions import CONFIRM_LINK, UNSUBSCRIBE_LINK, confirm, publish, subscribe
from tests.plugins.twilio import PUBLIC, inbound_filed
from tests.plugins.web import ENGLISH

READER = "reader@example.net"
PHONE = "+8613800138001"
TEXT = {"zh-CN": "批次 B7 的电暖器可能过热。", "en": "Heaters of batch B7 may overheat."}


def declare(world, *, drill: bool = False) -> tuple[int, str]:
    with db.session_scope() as session:
        incident = incident_flows.declare(
            session,
            registry=world.registry,
            actor=world.user(session, world.duty_manager),
            data=IncidentDeclare(
                playbook="product-recall",
                title="PX-200 overheating",
                severity="sev1",
                scope=Scope(products=["PX-200"], batches=["B7"]),
                drill=drill,
            ),
        )
        return incident.id, incident.number


def publish_now(world, incident_id: int, text=TEXT) -> int:
    with db.session_scope() as session:
        statement = publish(
            session,
            incident_id,
            world.user(session, world.comms),
            world.user(session, world.duty_manager),
            text=text,
        )
        return statement.id


def texts_to(fake, phone: str) -> list[str]:
    return [
        message["body"] for message in fake.fake.state.messages.values() if message["to"] == phone
    ]


def mails_to(smtp, address: str):
    return [mail for recipients, mail in smtp.messages if address in recipients]


def plain(mail) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def status_of(address: str) -> SubscriptionStatus:
    with db.session_scope() as session:
        return (
            session.exec(select(Subscription).where(Subscription.address == address)).one().status
        )


@pytest.fixture
def channels(world, twilio, smtp):
    return twilio, smtp


@pytest.fixture
def client_factory(shipped_playbooks):
    """Browsers of the public site at its public address (its cookies are Secure)."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        app = create_app(registry=shipped_playbooks, check_schema=False, run_worker=False)
        clients.append(TestClient(app, base_url=PUBLIC))
        return clients[-1]

    yield make
    for made in clients:
        made.close()


def test_email_double_opt_in_then_each_version_once_then_one_click_unsubscribe(
    world, channels, client_factory
):
    _, smtp = channels
    incident_id, number = declare(world)
    client = client_factory()
    assert subscribe(client, READER, incident=number).status_code == 200
    send_direct()
    [request] = mails_to(smtp, READER)
    assert request["Subject"].startswith("请确认订阅")
    link = CONFIRM_LINK.search(plain(request)).group(1)

    publish_now(world, incident_id)  # before confirming: nothing
    send_direct()
    assert len(mails_to(smtp, READER)) == 1

    assert "订阅成功" in confirm(client, link).text
    second = publish_now(world, incident_id, {"zh-CN": "第二次通报正文。", "en": "Second."})
    send_direct()
    [_, update] = mails_to(smtp, READER)
    assert "第二次通报正文。" in plain(update) and "请停止使用。" in plain(update)
    assert update["Subject"] == "PX-200 电暖器召回（第2次通报）"
    assert f"/status/{number}" in plain(update)
    unsubscribe = UNSUBSCRIBE_LINK.search(plain(update)).group(1)
    # Mail programs offer the same link beside the sender, one click and done (RFC 8058).
    assert update["List-Unsubscribe"].endswith(f"{unsubscribe}>")
    assert update["List-Unsubscribe"].startswith("<https://")
    assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Publishing's hook run again for the same version (a retried request) sends nothing more.
    with db.session_scope() as session:
        statement = session.get(Statement, second)
        incident = service.public_incident(session, number=number)
        assert service.send_statement(session, incident=incident, statement=statement) == 0
    send_direct()
    assert len(mails_to(smtp, READER)) == 2

    one_click = client_factory()  # the mail provider: no cookie, no CSRF token
    for _ in range(2):
        answer = one_click.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
    assert status_of(READER) == SubscriptionStatus.unsubscribed
    publish_now(world, incident_id)
    send_direct()
    assert len(mails_to(smtp, READER)) == 2


def test_sms_to_a_product_line_in_english_then_stop(world, channels, client_factory):
    twilio, _ = channels
    incident_id, number = declare(world)
    client = client_factory()
    subscribe(client, PHONE, product="px-200", headers=ENGLISH)
    subscribe(client, PHONE, incident=number, headers=ENGLISH)  # the same phone, twice over
    send_direct()
    requests = texts_to(twilio, PHONE)
    assert len(requests) == 2 and all("confirm within 48 h" in text for text in requests)
    for text in requests:
        confirm(client, CONFIRM_LINK.search(text).group(1), headers=ENGLISH)

    publish_now(world, incident_id)
    send_direct()
    [update] = texts_to(twilio, PHONE)[2:]  # once, though subscribed twice
    assert update.startswith("Demo Appliances Co.: PX-200 heater recall - update 1")
    assert f"/status/{number}" in update and TEXT["en"] not in update

    assert inbound_filed(client, PHONE, "STOP", "SM" + "5" * 32)[0].status_code == 200
    with db.session_scope() as session:
        assert suppression.is_suppressed(session, channel="sms", address=PHONE)
    publish_now(world, incident_id)
    send_direct()
    assert len(texts_to(twilio, PHONE)) == 3
    # A suppressed number asking again gets nothing, and is told the same as anyone.
    answer = subscribe(client, PHONE, incident=number, headers=ENGLISH)
    assert answer.status_code == 200 and "Check your phone" in answer.text
    send_direct()
    assert len(texts_to(twilio, PHONE)) == 3


def test_a_drill_never_reaches_a_subscriber(world, channels, client_factory):
    twilio, smtp = channels
    drill_id, drill_number = declare(world, drill=True)
    client = client_factory()
    assert client.get(f"/status/subscriptions/new?incident={drill_number}").status_code == 404
    subscribe(client, PHONE, product="PX-200")
    subscribe(client, READER, product="PX-200")
    send_direct()
    confirm(client, CONFIRM_LINK.search(texts_to(twilio, PHONE)[0]).group(1))
    confirm(client, CONFIRM_LINK.search(plain(mails_to(smtp, READER)[0])).group(1))

    publish_now(world, drill_id)
    send_direct()
    assert len(texts_to(twilio, PHONE)) == 1 and len(mails_to(smtp, READER)) == 1
    with db.session_scope() as session:
        statement = session.exec(select(Statement).where(Statement.incident_id == drill_id)).one()
        assert statement.drill and statement.version == 1


def test_every_message_template_renders_in_both_languages(world):
    from incident_cmd.config import get_settings
    from incident_cmd.messaging.templates import templates_for

    templates = templates_for(get_settings().template_dir)
    context = {
        "organisation": "Demo",
        "topic": "PX-200",
        "confirm_url": "https://x/c",
        "expires_hours": 48,
        "title": "T",
        "text": "X",
        "advice": "",
        "version": 1,
        "status_url": "https://x/s",
        "unsubscribe_url": "https://x/u",
    }
    for template in ("subscription_confirm", "statement_update"):
        for channel in ("sms", "email"):
            templates.check(template, channel, context)
    sms = templates.render("statement_update", "sms", "zh-CN", context).body
    assert re.fullmatch(r"【Demo】T：第1次通报已发布，详情：https://x/s 回复TD退订", sms)
