"""Inbound SMS: the opt-out words customers actually use, every opt-out instruction in a
template names one of them, and odd senders or over-long texts are kept, never lost."""

import re
from pathlib import Path

import pytest
import yaml
from sqlmodel import func, select

from incident_cmd import db
from incident_cmd.campaigns import inbound as keywords
from incident_cmd.campaigns.models import InboundMessage
from incident_cmd.config import get_settings
from incident_cmd.messaging import suppression
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.tickets.models import Ticket
from incident_cmd.timeline.models import TimelineEvent
from tests.plugins.twilio import inbound_filed

REPO = Path(__file__).resolve().parents[2]
CUSTOMER = "+8613900000001"
# How templates and playbooks tell people to opt out: 「回复TD退订」, "Reply STOP to opt out".
OPT_OUT_INSTRUCTIONS = (
    re.compile(r"回复\s*([^\s,,。::;;]+?)\s*(?:退订|取消订阅)"),
    re.compile(r"reply\s+(\S+?)\s+to\s+(?:opt\s+out|unsubscribe|stop)", re.IGNORECASE),
)


def count(model) -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(model)).one()


@pytest.mark.parametrize(
    "word",
    ["TD", "td", "T", "退订", "取消", "ＴＤ", " ｔｄ。", "退订!", "STOP", "Stop.", "ｓｔｏｐ"],
)
def test_opt_out_words_suppress_before_anything_becomes_a_ticket(
    world, twilio, client_factory, word
):
    client = client_factory()
    response, answer = inbound_filed(client, CUSTOMER, word, "SMout1")
    assert response.status_code == 200
    with db.session_scope() as session:
        assert suppression.is_suppressed(session, channel="sms", address=CUSTOMER)
        kept = session.exec(select(InboundMessage)).one()
        assert (kept.kind, kept.ticket_id) == ("stop", None)
    assert count(Ticket) == 0
    with db.session_scope() as session:
        # No "您的投诉已受理": at most the opt-out confirmation.
        sent = session.exec(select(DirectMessage.body)).all()
    if keywords.keyword(word) in keywords.CHINESE_STOP_WORDS:
        # Twilio confirms only its own keywords; these are confirmed by us, through the
        # direct lane, to the number that just opted out.
        assert answer is not None and "退订" in answer and "START" in answer
        assert sent == [answer]
    else:
        assert answer is None and sent == []


def test_opt_out_words_are_not_mistaken_inside_a_sentence(world, twilio, client_factory):
    client = client_factory()
    inbound_filed(client, CUSTOMER, "我不想退订,但是电饭煲坏了", "SMmsg1")
    with db.session_scope() as session:
        assert not suppression.is_suppressed(session, channel="sms", address=CUSTOMER)
    assert count(Ticket) == 1


def _instruction_texts() -> list[tuple[str, str]]:
    texts = [
        (path.name, path.read_text(encoding="utf-8"))
        for path in sorted((REPO / "templates" / "messages").glob("*.j2"))
    ]
    for path in sorted((REPO / "playbooks").glob("*.yaml")):
        texts.append(
            (path.name, yaml.safe_dump(yaml.safe_load(path.read_text()), allow_unicode=True))
        )
    texts.append(("SMS_HELP_TEXT", get_settings().sms_help_text))
    return texts


def test_every_opt_out_instruction_names_a_word_the_system_honours():
    found = []
    for name, text in _instruction_texts():
        for pattern in OPT_OUT_INSTRUCTIONS:
            found += [(name, word) for word in pattern.findall(text)]
    # Every customer SMS template tells how to opt out, in both languages.
    assert {name for name, _ in found} >= {
        f"{template}.sms.{locale}.j2"
        for template in (
            "recall_notice",
            "recall_reminder",
            "complaint_apology",
            "escalation_callback",
            "service_disruption",
        )
        for locale in ("en", "zh-CN")
    }
    unknown = [
        (name, word) for name, word in found if keywords.keyword(word) not in keywords.STOP_WORDS
    ]
    assert unknown == []


def test_messages_from_short_codes_and_sender_names_are_kept_not_lost(
    world, twilio, client_factory
):
    client = client_factory()
    for number, sender in enumerate(["10086", "ACMEBANK", "+999", "x" * 40]):
        response, _ = inbound_filed(client, sender, "您的话费余额不足", f"SModd{number}")
        assert response.status_code == 200, response.text
    with db.session_scope() as session:
        kept = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [(item.from_address, item.kind, item.ticket_id) for item in kept] == [
            ("10086", "message", None),
            ("ACMEBANK", "message", None),
            ("+999", "message", None),
            ("x" * 32, "message", None),
        ]
        unfiled = session.exec(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.kind == "sms.unfiled")
        ).one()
        assert unfiled == 4
    assert count(Ticket) == 0


def test_an_over_long_text_is_kept_cut_with_a_marker(world, twilio, client_factory):
    client = client_factory()
    body = "电饭煲冒烟了" + "详细情况" * 3000
    response, _ = inbound_filed(client, CUSTOMER, body, "SMlong")
    assert response.status_code == 200, response.text
    with db.session_scope() as session:
        kept = session.exec(select(InboundMessage)).one()
        assert len(kept.body) == keywords.INBOUND_BODY_LIMIT
        assert kept.body.startswith("电饭煲冒烟了详细情况")
        assert kept.body.endswith(keywords.TRUNCATED_MARKER)
        ticket = session.exec(select(Ticket)).one()
        assert ticket.description.endswith(keywords.TRUNCATED_MARKER)


def test_a_nul_character_is_dropped_rather_than_losing_the_message(world, twilio, client_factory):
    # Twilio does not retry a 4xx: refusing the text would lose the customer's words.
    response, _ = inbound_filed(client_factory(), CUSTOMER, "坏了\x00吗", "SMnul")
    assert response.status_code == 200, response.text
    with db.session_scope() as session:
        assert session.exec(select(InboundMessage.body)).one() == "坏了吗"
