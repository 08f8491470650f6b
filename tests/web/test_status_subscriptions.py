"""Subscribing from the public status pages: the form and what it answers (the same whatever
the address), the rate limits, the confirmation and unsubscribe links, the staff's option to
notify the customers in scope, and the pages in both languages at both widths."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import Campaign
from incident_cmd.errors import Invalid
from incident_cmd.incidents.schemas import Scope
from incident_cmd.messaging import suppression
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.statements import flows
from incident_cmd.statements.schemas import StatementDraft
from incident_cmd.subscriptions import service
from incident_cmd.subscriptions.models import Subscription, SubscriptionStatus
from tests.factories import make_customer, make_incident, make_user
from tests.plugins.subscriptions import (
    CONFIRM_LINK,
    CSRF,
    confirm,
    form_query,
    publish,
    same_site,
    subscribe,
)
from tests.plugins.web import CHINESE, ENGLISH, chromium, needs_chromium, post_form, shot, sign_in

READER = "reader@example.net"
PHONE = "+8613800138001"
TEXT = {"zh-CN": "批次 B7 的电暖器可能过热。", "en": "Heaters of batch B7 may overheat."}


@pytest.fixture
def people(session):
    return make_user(session, Role.comms), make_user(session, Role.duty_manager)


@pytest.fixture
def recall(session, shipped_playbooks, people):
    incident = make_incident(
        session,
        registry=shipped_playbooks,
        title="王建国 reported PX-200 smoke",
        scope=Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"]),
    )
    publish(session, incident.id, *people, text=TEXT)
    return incident


def confirmations(session, address: str) -> list[DirectMessage]:
    return list(
        session.exec(
            select(DirectMessage)
            .where(DirectMessage.address == address, DirectMessage.source == service.SOURCE)
            .order_by(col(DirectMessage.id))
        )
    )


def subscription_of(session, address: str) -> Subscription:
    return session.exec(select(Subscription).where(Subscription.address == address)).one()


def confirm_path(message: DirectMessage) -> str:
    return CONFIRM_LINK.search(message.body).group(1)


# --- the form --------------------------------------------------------------------------------


def test_the_status_pages_link_to_the_form_in_each_language(client, recall):
    board = client.get("/status", headers=CHINESE)
    page = client.get(f"/status/{recall.number}", headers=ENGLISH)
    assert 'href="/status/subscriptions/new"' in board.text and "订阅" in board.text
    assert f'href="/status/subscriptions/new?incident={recall.number}"' in page.text
    assert "Get updates by email or SMS" in page.text
    # The pages stay one cacheable page for everyone: the form is a page of its own.
    assert 'method="post"' not in board.text + page.text


def test_the_form_offers_the_incident_and_the_products_its_statements_name(client, recall):
    chinese = client.get(form_query(recall.number), headers=CHINESE)
    english = client.get(form_query(recall.number), headers=ENGLISH)
    assert chinese.status_code == 200 and english.status_code == 200
    assert f"本事件（{recall.number}）" in chinese.text and "产品 PX-200 的全部通报" in chinese.text
    assert "Everything about the product PX-200" in english.text
    assert chinese.headers["cache-control"] == "no-store"
    assert "王建国" not in chinese.text + english.text


def test_before_its_first_statement_an_incident_offers_only_its_number(
    client, session, shipped_playbooks
):
    unannounced = make_incident(
        session, registry=shipped_playbooks, scope=Scope(products=["SECRET-9"], batches=["B1"])
    )
    page = client.get(form_query(unannounced.number), headers=ENGLISH)
    assert page.status_code == 200 and unannounced.number in page.text
    assert "SECRET-9" not in page.text


def test_a_drill_or_an_unknown_number_is_not_found(client, session, shipped_playbooks):
    drill = make_incident(session, registry=shipped_playbooks, drill=True)
    for number in (drill.number, "INC-0000-9999"):
        page = client.get(form_query(number), headers=ENGLISH)
        assert page.status_code == 404 and "<form" not in page.text


def test_a_request_sends_a_confirmation_in_the_readers_language(client, session, recall):
    answer = subscribe(client, READER.upper(), incident=recall.number, headers=ENGLISH)
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [message] = confirmations(session, READER)
    assert message.channel == "email" and message.locale == "en"
    assert recall.number in message.body and "/status/subscriptions/confirm/" in message.body
    assert subscription_of(session, READER).status == SubscriptionStatus.pending
    # Nothing about the address on the page: not even the reader's own.
    assert READER not in answer.text.lower()

    subscribe(client, PHONE, product="px-200", headers=CHINESE)
    [sms] = confirmations(session, PHONE)
    assert sms.channel == "sms" and sms.locale == "zh-CN" and "PX-200" in sms.body
    assert "请在48小时内打开链接确认" in sms.body
    assert subscription_of(session, PHONE).product == "PX-200"


def test_the_answer_is_the_same_whatever_the_address(client, session, recall):
    """New, suppressed, confirmed, asked too often: the form cannot tell them apart."""
    suppression.suppress(session, channel="sms", address="+8613800138002", reason="replied TD")
    subscribe(client, "+8613800138003", incident=recall.number)
    confirm(client, confirm_path(confirmations(session, "+8613800138003")[0]))
    for _ in range(3):
        subscribe(client, "+8613800138004", incident=recall.number)
    answers = {
        address: subscribe(client, address, incident=recall.number)
        for address in ("+8613800138001", "+8613800138002", "+8613800138003", "+8613800138004")
    }
    bodies = {CSRF.sub("", answer.text) for answer in answers.values()}
    assert len(bodies) == 1 and {answer.status_code for answer in answers.values()} == {200}
    assert "请查看手机短信" in bodies.pop()
    sent = {address: len(confirmations(session, address)) for address in answers}
    assert sent == {
        "+8613800138001": 1,  # new
        "+8613800138002": 0,  # suppressed: nothing, ever
        "+8613800138003": 1,  # confirmed already: only its first request
        "+8613800138004": 3,  # its limit for the hour was reached before this one
    }


@pytest.mark.parametrize(
    ("address", "said"),
    [("", "此项必填"), ("not an address", "请填写邮箱地址"), ("12", "手机号"), ("a@b", "邮箱")],
)
def test_a_bad_address_is_named_next_to_its_field_and_nothing_is_sent(
    client, session, recall, address, said
):
    answer = subscribe(client, address, incident=recall.number)
    assert answer.status_code == 400
    assert 'id="address-error"' in answer.text and said in answer.text
    assert session.exec(select(Subscription)).all() == []
    assert (
        session.exec(select(DirectMessage).where(DirectMessage.source == "subscription")).all()
        == []
    )


def test_a_product_must_be_given_on_the_form_without_an_incident(client, session):
    answer = subscribe(client, READER, product="", headers=ENGLISH)
    assert answer.status_code == 400 and 'id="topic-error"' in answer.text
    assert "write a product model" in answer.text
    assert session.exec(select(Subscription)).all() == []


def test_the_form_needs_its_csrf_token(client, recall):
    data = {"address": READER, "incident": recall.number, "topic": "incident"}
    assert (
        client.post("/status/subscriptions/new", data=data, headers=same_site(client)).status_code
        == 403
    )


# --- rate limits -----------------------------------------------------------------------------


def test_a_client_asking_too_often_is_told_to_wait_an_hour(client, session, recall, frozen_clock):
    for index in range(10):
        assert subscribe(client, f"r{index}@example.net", incident=recall.number).status_code == 200
    refused = subscribe(client, "r10@example.net", incident=recall.number, headers=ENGLISH)
    assert refused.status_code == 429 and "try again in an hour" in refused.text
    assert confirmations(session, "r10@example.net") == []
    frozen_clock.advance(timedelta(hours=1, seconds=1))
    assert subscribe(client, "r10@example.net", incident=recall.number).status_code == 200
    assert len(confirmations(session, "r10@example.net")) == 1


def test_one_address_is_asked_for_three_times_an_hour_and_five_a_day(
    client, session, recall, frozen_clock
):
    """Every ask counts, sent or not: a stranger's phone gets at most five texts a day."""

    def sent() -> int:
        return len(confirmations(session, PHONE))

    for _ in range(4):
        subscribe(client, PHONE, incident=recall.number)
    assert sent() == 3
    frozen_clock.advance(timedelta(hours=1, seconds=1))
    for _ in range(2):
        subscribe(client, PHONE, incident=recall.number)
    assert sent() == 4  # the fifth ask of the day went out, the sixth did not
    frozen_clock.advance(timedelta(hours=23))
    subscribe(client, PHONE, incident=recall.number)
    assert sent() == 5  # the first hour's asks are a day old


# --- the links -------------------------------------------------------------------------------


def test_opening_the_confirmation_link_changes_nothing_and_its_button_confirms(
    client, session, recall
):
    subscribe(client, READER, incident=recall.number)
    path = confirm_path(confirmations(session, READER)[0])
    for _ in range(2):  # a mail scanner, a link preview
        page = client.get(path, headers=ENGLISH)
        assert page.status_code == 200 and "Confirm my subscription" in page.text
        assert READER not in page.text
    assert subscription_of(session, READER).status == SubscriptionStatus.pending
    confirmed = confirm(client, path)
    assert confirmed.status_code == 200 and "订阅成功" in confirmed.text
    assert recall.number in confirmed.text and READER not in confirmed.text
    session.expire_all()
    assert subscription_of(session, READER).status == SubscriptionStatus.confirmed
    assert confirm(client, path).status_code == 200  # again: still subscribed


def test_an_expired_or_forged_confirmation_link_is_refused_with_a_clear_page(
    client, session, recall, frozen_clock
):
    subscribe(client, READER, incident=recall.number)
    path = confirm_path(confirmations(session, READER)[0])
    forged = client.get(path[:-3] + "abc", headers=ENGLISH)
    assert forged.status_code == 403 and "This link is not valid" in forged.text
    frozen_clock.advance(service.CONFIRM_WITHIN + timedelta(seconds=1))
    expired = client.get(path, headers=CHINESE)
    assert expired.status_code == 410 and "确认链接已过期" in expired.text
    late = client.post(path, headers=same_site(client))
    assert late.status_code == 410
    elsewhere = client.post(path, headers={"Origin": "https://attacker.example"})
    assert elsewhere.status_code == 403
    session.expire_all()
    assert subscription_of(session, READER).status == SubscriptionStatus.pending


def test_one_click_unsubscribe_needs_no_login_nor_csrf_and_is_idempotent(
    client, session, recall, app
):
    subscribe(client, READER, incident=recall.number)
    confirm(client, confirm_path(confirmations(session, READER)[0]))
    session.expire_all()
    path = service.unsubscribe_url(subscription_of(session, READER)).split("example.com")[-1]
    path = path[path.index("/unsubscribe/") :]
    with TestClient(app) as mail_client:  # no cookie, no token: a mail provider's POST
        page = mail_client.get(path, headers=ENGLISH)
        assert page.status_code == 200 and '<form method="post">' in page.text
        session.expire_all()
        assert subscription_of(session, READER).status == SubscriptionStatus.confirmed
        for _ in range(2):
            answer = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200 and "已退订" in answer.text
        session.expire_all()
        assert subscription_of(session, READER).status == SubscriptionStatus.unsubscribed
        forged = mail_client.post(path[:-2] + "xx", data={"List-Unsubscribe": "One-Click"})
        assert forged.status_code == 403
        # A confirmation token is no unsubscribe token, nor the other way round.
        confirm_token = service.confirm_token(subscription_of(session, READER))
        assert mail_client.post(f"/unsubscribe/subscriptions/{confirm_token}").status_code == 403
        cross_site = mail_client.post(path, headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403


def test_a_link_confirmed_after_an_unsubscribe_does_not_subscribe_again(client, session, recall):
    subscribe(client, READER, incident=recall.number)
    path = confirm_path(confirmations(session, READER)[0])
    confirm(client, path)
    session.expire_all()
    service.unsubscribe(session, subscription=subscription_of(session, READER))
    session.flush()
    assert confirm(client, path).status_code == 410
    session.expire_all()
    assert subscription_of(session, READER).status == SubscriptionStatus.unsubscribed


# --- publishing ------------------------------------------------------------------------------


def test_publishing_queues_the_statement_for_confirmed_subscribers_only(
    client, session, recall, people
):
    subscribe(client, READER, incident=recall.number, headers=ENGLISH)
    subscribe(client, PHONE, incident=recall.number, product="PX-200")
    subscribe(client, "+8613800138009", incident=recall.number)  # never confirmed
    for address in (READER, PHONE):
        confirm(client, confirm_path(confirmations(session, address)[0]))
    statement = publish(session, recall.id, *people, text=TEXT)

    def statement_messages(address: str) -> list[DirectMessage]:
        return [m for m in confirmations(session, address) if m.key.startswith("statement-")]

    [email] = statement_messages(READER)
    [sms] = statement_messages(PHONE)
    assert statement_messages("+8613800138009") == []
    assert TEXT["en"] in email.body and "Stop using it." in email.body
    assert "/unsubscribe/subscriptions/" in email.body and email.subject.endswith("(update 2)")
    assert f"/status/{recall.number}" in sms.body and TEXT["zh-CN"] not in sms.body
    assert sms.body.startswith("【") and "第2次通报" in sms.body
    # A retry of the hook queues nothing more.
    assert service.send_statement(session, incident=recall, statement=statement) == 0


def test_the_staff_may_also_notify_the_customers_in_scope(client, session, recall, people):
    spokesperson, approver = people
    make_customer(session, purchases=(("PX-200", "B7"),))
    drafts = [
        flows.draft(
            session,
            incident_id=recall.id,
            data=StatementDraft.model_validate({"stage": "recall_in_progress"}),
            actor=spokesperson,
        )
        for _ in range(2)
    ]
    for statement in drafts:
        flows.approve(session, incident_id=recall.id, statement_id=statement.id, actor=approver)
    before = set(session.exec(select(Campaign.id)).all())
    sign_in(client, session, Role.comms)
    path = f"/incidents/{recall.id}/statements"
    assert 'name="notify_customers"' in client.get(path).text

    plain = post_form(client, f"{path}/{drafts[0].id}/publish", {}, token_from=path)
    assert plain.status_code == 303
    assert set(session.exec(select(Campaign.id)).all()) == before

    notified = post_form(
        client, f"{path}/{drafts[1].id}/publish", {"notify_customers": "yes"}, token_from=path
    )
    assert notified.status_code == 303
    drafted = session.exec(select(Campaign).where(col(Campaign.id).not_in(before))).all()
    assert {campaign.template for campaign in drafted} == {"statement_notice"}
    assert {campaign.status for campaign in drafted} == {"draft"}
    assert {campaign.channel for campaign in drafted} == {"sms", "email"}
    assert {campaign.audience["rule"] for campaign in drafted} == {"scope_purchasers"}
    assert all(campaign.incident_id == recall.id for campaign in drafted)


def test_notifying_customers_is_refused_before_publishing_when_none_are_in_scope(
    client, session, shipped_playbooks, people
):
    spokesperson, approver = people
    escalation = make_incident(session, registry=shipped_playbooks, playbook="complaint-escalation")
    statement = flows.draft(
        session,
        incident_id=escalation.id,
        data=StatementDraft.model_validate(
            {"stage": "investigating", "text": {"zh-CN": "处理中。", "en": "On it."}}
        ),
        actor=spokesperson,
    )
    flows.approve(session, incident_id=escalation.id, statement_id=statement.id, actor=approver)
    with pytest.raises(Invalid) as refused:
        flows.publish(
            session,
            incident_id=escalation.id,
            statement_id=statement.id,
            actor=spokesperson,
            notify_customers=True,
        )
    assert refused.value.field == "notify_customers"
    session.refresh(statement)
    assert statement.status == "approved"


# --- in a browser ----------------------------------------------------------------------------


@needs_chromium
def test_subscribing_in_chromium_in_each_language_at_each_width(
    live_server, shipped_playbooks, tmp_path
):
    """The form from the incident's page, its answer, the confirmation page and its result:
    subscribe-{product,form,form-error,sent,confirm,confirmed}-{zh-CN,en}-{1280,390}.png."""
    with db.session_scope() as session:
        incident = make_incident(
            session,
            registry=shipped_playbooks,
            scope=Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"]),
        )
        publish(
            session,
            incident.id,
            make_user(session, Role.comms),
            make_user(session, Role.duty_manager),
            text=TEXT,
        )
        number = incident.number
    words = {
        "zh-CN": ("订阅通报", "请查收邮件", "请确认订阅", "订阅成功"),
        "en": (
            "Get updates",
            "Check your inbox",
            "Confirm your subscription",
            "You are subscribed",
        ),
    }
    with chromium() as browser:
        for locale in ("zh-CN", "en"):
            context = browser.new_context(
                locale=locale, extra_http_headers={"Accept-Language": locale}
            )
            page = context.new_page()
            for width in (1280, 390):
                address = f"shot-{locale}-{width}@example.net".lower()
                form, sent, asking, done = words[locale]
                page.set_viewport_size({"width": width, "height": 844})
                page.goto(f"{live_server}/status")
                page.click(".status-subscribe a")
                page.wait_for_url("**/status/subscriptions/new")
                assert page.is_visible("#subscribe-product")
                shot(page, tmp_path, f"subscribe-product-{locale}-{width}")
                page.goto(f"{live_server}/status/{number}")
                page.click(".status-subscribe a")
                page.wait_for_url("**/status/subscriptions/new?incident=*")
                assert form in page.inner_text("h1")
                page.fill("#subscribe-address", "not an address")
                page.click(".subscribe-form button[type=submit]")
                assert page.is_visible("#address-error")
                shot(page, tmp_path, f"subscribe-form-error-{locale}-{width}")
                page.fill("#subscribe-address", address)
                page.check("input[value='product:PX-200']")
                shot(page, tmp_path, f"subscribe-form-{locale}-{width}")
                page.click(".subscribe-form button[type=submit]")
                page.wait_for_url("**/status/subscriptions/sent*")
                assert sent in page.inner_text("h1") and address not in page.content()
                shot(page, tmp_path, f"subscribe-sent-{locale}-{width}")
                with db.session_scope() as session:
                    message = session.exec(
                        select(DirectMessage).where(DirectMessage.address == address)
                    ).one()
                    path = CONFIRM_LINK.search(message.body).group(1)
                page.goto(f"{live_server}{path}")
                assert asking in page.inner_text("h1") and "PX-200" in page.inner_text("main")
                shot(page, tmp_path, f"subscribe-confirm-{locale}-{width}")
                page.click("main form button[type=submit]")
                page.wait_for_load_state()
                assert done in page.inner_text("h1")
                shot(page, tmp_path, f"subscribe-confirmed-{locale}-{width}")
            context.close()
