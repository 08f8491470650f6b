"""The customer pages: search by phone, name, product or batch on the directory's indexes, a
customer's purchases, complaints and the messages sent to them, for the customers API's roles
only (comms, duty managers, admins)."""

import re
from datetime import timedelta

import pytest

from incident_cmd import clock, db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from incident_cmd.customers.models import Customer
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import DirectMessage, DirectMessageStatus
from incident_cmd.tickets.notices import SOURCE as TICKET_SOURCE
from incident_cmd.web.customers import PAGE_SIZE
from tests.factories import make_customer, make_ticket, make_user
from tests.plugins.web import PASSWORD, browser_login, chromium, needs_chromium, shot, sign_in


def _found(page_text: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-customer="(\d+)"', page_text)]


def _campaign(session, name: str = "PX-200 召回通知") -> Campaign:
    campaign = Campaign(
        name=name,
        channel=ChannelName.sms,
        template="recall_notice",
        audience={},
        status=CampaignStatus.sending,
        created_by=make_user(session, Role.comms).id,
        created_at=clock.now(),
    )
    session.add(campaign)
    session.flush()
    return campaign


def _delivery(session, campaign: Campaign, customer, status: DeliveryStatus, **fields) -> None:
    session.add(
        Delivery(
            campaign_id=campaign.id,
            customer_id=customer.id,
            address=customer.phone,
            name=customer.name,
            locale=customer.locale,
            timezone=customer.timezone,
            status=status,
            due_at=clock.now(),
            **fields,
        )
    )
    session.flush()


def test_search_finds_by_each_key(client, session):
    wanted = make_customer(
        session, name="王秀英", phone="+8613800138000", purchases=[("RC-310", "B2026-11")]
    )
    other = make_customer(session, name="李明", purchases=[("PX-200", "B7")])
    sign_in(client, session, Role.comms)

    # A phone as people say it: without +86, with spaces.
    assert _found(client.get("/customers?by=phone&q=138 0013 8000").text) == [wanted.id]
    assert _found(client.get("/customers?by=name&q=秀英").text) == [wanted.id]
    assert _found(client.get("/customers?by=product&q=RC-310").text) == [wanted.id]
    assert _found(client.get("/customers?by=batch&q=B2026-11").text) == [wanted.id]
    assert _found(client.get("/customers?by=batch&q=B7").text) == [other.id]
    nothing = client.get("/customers?by=name&q=nobody-has-this-name")
    assert _found(nothing.text) == [] and 'id="no-customers"' in nothing.text
    # A wildcard typed in a name is a character, not a pattern.
    assert _found(client.get("/customers?by=name&q=%25").text) == []


def test_a_phone_that_is_not_one_is_shown_next_to_the_field(client, session):
    make_customer(session, phone="+8613800138000")
    sign_in(client, session, Role.comms)
    page = client.get("/customers?by=phone&q=call-me")
    assert page.status_code == 400
    assert re.search(r'aria-invalid="true" aria-describedby="q-error"', page.text)
    assert 'id="q-error"' in page.text and "Not a phone number" in page.text
    assert _found(page.text) == []


def test_results_come_a_page_at_a_time(client, session):
    batch = "B-PAGED"
    made = [make_customer(session, purchases=[("PX-200", batch)]) for _ in range(PAGE_SIZE + 3)]
    sign_in(client, session, Role.comms)
    first = client.get(f"/customers?by=batch&q={batch}")
    assert _found(first.text) == [customer.id for customer in made[:PAGE_SIZE]]
    next_url = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert next_url
    second = client.get(next_url.group(1).replace("&amp;", "&"))
    assert _found(second.text) == [customer.id for customer in made[PAGE_SIZE:]]
    assert 'rel="next"' not in second.text


def test_the_customer_page_shows_purchases_complaints_and_messages(
    client, session, shipped_playbooks
):
    ticket = make_ticket(
        session, registry=shipped_playbooks, phone="+8613900139000", customer_name="赵先生"
    )
    person = session.get_one(Customer, ticket.customer_id)
    recall = _campaign(session)
    sent_at = clock.now() + timedelta(minutes=5)
    _delivery(
        session, recall, person, DeliveryStatus.delivered, sent_at=sent_at, delivered_at=sent_at
    )
    failed = _campaign(session, "PX-200 进展通报")
    _delivery(session, failed, person, DeliveryStatus.failed, error_message="carrier refused")
    session.add(
        DirectMessage(
            key=f"ticket-{ticket.id}-received",
            source=TICKET_SOURCE,
            source_id=ticket.id,
            label="received to the customer",
            customer_id=person.id,
            channel=ChannelName.sms,
            address=person.phone,
            locale=Locale.zh_CN,
            body="您的投诉已受理，工单号 " + (ticket.number or ""),
            status=DirectMessageStatus.sent,
            due_at=clock.now(),
            sent_at=clock.now(),
        )
    )
    session.flush()
    sign_in(client, session, Role.duty_manager)

    page = client.get(f"/customers/{person.id}")
    assert page.status_code == 200
    text = page.text
    assert f'href="/tickets/{ticket.id}"' in text and ticket.number in text
    assert f'href="/campaigns/{recall.id}"' in text and "PX-200 召回通知" in text
    assert "Delivered" in text and "message-good" in text
    assert "Failed" in text and "carrier refused" in text and "message-bad" in text
    assert "您的投诉已受理" in text
    # Times in the reader's zone: the delivery at 09:05 in Shanghai.
    assert (sent_at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") in text
    assert "+8613900139000" in text


@pytest.mark.parametrize("role", [Role.admin, Role.duty_manager, Role.agent])
def test_whoever_answers_customers_reads_their_contacts_whole(client, session, role):
    customer = make_customer(session, phone="+8613800138000", email="wang@example.com")
    sign_in(client, session, role)
    listed = client.get("/customers?by=phone&q=13800138000")
    assert "+8613800138000" in listed.text and "wang@example.com" in listed.text
    page = client.get(f"/customers/{customer.id}")
    assert "+8613800138000" in page.text and "138****8000" not in page.text
    assert 'href="/customers"' in page.text  # the header's link


@pytest.mark.parametrize("role", [Role.comms, Role.responder])
def test_staff_who_do_not_answer_customers_read_their_contacts_masked(client, session, role):
    customer = make_customer(session, phone="+8613800138000", email="wang@example.com")
    sign_in(client, session, role)
    listed = client.get("/customers?by=phone&q=13800138000")
    page = client.get(f"/customers/{customer.id}")
    # The search form keeps what the reader typed; nothing else shows it.
    for text in (re.sub(r"<form.*?</form>", "", listed.text, flags=re.S), page.text):
        assert "+86 138****8000" in text and "w***@example.com" in text
        assert "13800138000" not in text and "wang@" not in text


def test_a_viewer_is_refused_and_sees_no_contact(client, session):
    role = Role.viewer
    customer = make_customer(session, phone="+8613800138000", email="wang@example.com")
    sign_in(client, session, role)
    for path in ("/customers?by=phone&q=13800138000", f"/customers/{customer.id}"):
        page = client.get(path)
        assert page.status_code == 403
        assert 'id="refused"' in page.text
        assert "13800138000" not in page.text.replace("q=13800138000", "")
        assert "8000" not in re.sub(r"<form.*?</form>", "", page.text, flags=re.S)
    assert 'href="/customers"' not in client.get("/tickets").text


def test_customer_pages_need_a_login(client, session):
    customer = make_customer(session)
    # The login leads back to the page asked for.
    assert (
        client.get("/customers", follow_redirects=False).headers["location"]
        == "/login?next=%2Fcustomers"
    )
    assert (
        client.get(f"/customers/{customer.id}", follow_redirects=False).headers["location"]
        == f"/login?next=%2Fcustomers%2F{customer.id}"
    )


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (Locale.zh_CN, ["客户", "查找方式", "购买记录", "已送达", "投诉", "广东"]),
        (
            Locale.en,
            ["Customers", "Search by", "Purchases", "Delivered", "Complaints", "Guangdong"],
        ),
    ],
)
def test_the_customer_pages_speak_the_reader_s_language(client, session, locale, words):
    customer = make_customer(session, phone="+8613800138000")
    _delivery(session, _campaign(session), customer, DeliveryStatus.delivered, sent_at=clock.now())
    sign_in(client, session, Role.comms, locale)
    text = (
        client.get("/customers?by=phone&q=13800138000").text
        + client.get(f"/customers/{customer.id}").text
    )
    for word in words:
        assert word in text


# --- in a browser ---------------------------------------------------------------------------


@needs_chromium
def test_comms_finds_a_customer_by_phone_in_chromium(
    live_server, shipped_playbooks, frozen_clock, tmp_path
):
    with db.session_scope() as session:
        people = {}
        for locale in (Locale.en, Locale.zh_CN):
            person = make_user(session, Role.comms, timezone="Asia/Shanghai")
            auth_service.set_password(session, user=person, password=PASSWORD, actor_id=None)
            person.locale = locale
            session.add(person)
            people[locale] = person.username
        customer = make_customer(
            session,
            name="王秀英",
            phone="+8613800138000",
            email="wang.xiuying@example.com",
            purchases=[("PX-200", "B7"), ("RC-310", "B2026-11")],
        )
        for n in range(3):
            make_customer(session, name=f"王{n}", purchases=[("PX-200", "B7")])
        make_ticket(session, registry=shipped_playbooks, phone="+8613800138000")
        recall = _campaign(session)
        _delivery(
            session,
            recall,
            customer,
            DeliveryStatus.delivered,
            sent_at=clock.now(),
            delivered_at=clock.now(),
        )
        _delivery(
            session,
            _campaign(session, "PX-200 进展通报"),
            customer,
            DeliveryStatus.undelivered,
            sent_at=clock.now(),
            error_message="30005 unknown destination",
        )
        customer_id = customer.id

    with chromium() as browser:
        for locale, username in people.items():
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.click("nav.site-nav a[href='/customers']")
            page.select_option("select[name=by]", "batch")
            page.fill("input[name=q]", "B7")
            page.click("form.customer-search button[type=submit]")
            page.wait_for_selector("#customers")
            assert page.locator("#customers tbody tr").count() == 4
            shot(page, tmp_path, f"customers-{locale}-1280")
            page.select_option("select[name=by]", "phone")
            page.fill("input[name=q]", "138 0013 8000")
            page.click("form.customer-search button[type=submit]")
            page.click(f"tr[data-customer='{customer_id}'] a")
            page.wait_for_selector("#messages")
            assert "PX-200 召回通知" in page.inner_text("#messages")
            shot(page, tmp_path, f"customer-{locale}-1280")
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            shot(page, tmp_path, f"customer-{locale}-390")
            page.go_back()
            page.wait_for_selector("#customers")
            shot(page, tmp_path, f"customers-{locale}-390")
            page.close()
