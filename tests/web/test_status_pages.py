"""The public status pages: no login, the reader's language, cacheable until a statement is
published, and nothing about any person, nor any drill."""

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role, User
from incident_cmd.i18n import Locale
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident
from incident_cmd.incidents.schemas import Scope, UpdatePost
from incident_cmd.statements.models import Statement
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import translations
from tests.factories import make_customer, make_incident, make_ticket, make_user
from tests.plugins.statements import ADVICE, TEXT, TITLE, Speakers, publish
from tests.plugins.web import CHINESE, ENGLISH, chromium, needs_chromium, shot


@pytest.fixture
def recall(session, shipped_playbooks, speakers) -> Incident:
    incident = make_incident(
        session,
        registry=shipped_playbooks,
        title="王建国 reported PX-200 smoke",
        scope=Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"]),
    )
    publish(session, incident, speakers, title=TITLE, text=TEXT, advice=ADVICE)
    return incident


def test_the_board_shows_the_current_incident_in_the_readers_language(client, recall):
    chinese = client.get("/status", headers=CHINESE)
    english = client.get("/status", headers=ENGLISH)

    assert chinese.status_code == 200 and english.status_code == 200
    assert '<html lang="zh-CN">' in chinese.text and '<html lang="en">' in english.text
    assert TITLE["zh-CN"] in chinese.text and TITLE["en"] not in chinese.text
    assert TEXT["en"] in english.text and TEXT["zh-CN"] not in english.text
    assert "召回已公告" in chinese.text and "Recall announced" in english.text
    for page in (chinese, english):
        assert f'href="/status/{recall.number}"' in page.text
        assert "PX-200" in page.text and "B7" in page.text
    assert "广东" in chinese.text and "Guangdong" in english.text  # regions in their words
    # The public layout, not the staff one.
    assert "/logout" not in english.text and 'href="/tickets"' not in english.text


def test_an_incident_page_has_the_advice_and_every_version(client, session, recall, speakers):
    corrected = session.exec(select(Statement).where(Statement.incident_id == recall.id)).one()
    publish(
        session,
        recall,
        speakers,
        corrects=corrected,
        text={
            "zh-CN": "更正:批次 B7 和 B8 均在召回范围内。",
            "en": "Correction: batches B7 and B8 are recalled.",
        },
    )

    page = client.get(f"/status/{recall.number}", headers=ENGLISH)

    assert page.status_code == 200
    assert ADVICE["en"] in page.text
    assert page.text.index("Correction: batches B7 and B8") < page.text.index(TEXT["en"])
    assert "This corrects update 1." in page.text and "Corrected by update 2." in page.text
    assert 'id="update-2"' in page.text and 'id="update-1"' in page.text
    assert "UTC+8" in page.text


def test_without_advice_the_page_says_what_a_recall_asks(
    client, session, shipped_playbooks, speakers
):
    incident = make_incident(session, registry=shipped_playbooks)
    publish(session, incident, speakers)

    page = client.get(f"/status/{incident.number}", headers=CHINESE)

    assert "请立即停止使用并拔掉电源" in page.text
    assert "产品质量召回 · PX-200" in page.text


def test_an_incident_without_a_statement_yet_is_a_holding_page(client, session, shipped_playbooks):
    incident = make_incident(session, registry=shipped_playbooks)

    page = client.get(f"/status/{incident.number}", headers=ENGLISH)

    assert page.status_code == 200
    assert "We have not published a statement about this yet." in page.text
    assert "You do not need to do anything now." in page.text
    # Nothing the company has not said yet: not even that it is a recall.
    assert "Guangdong" not in page.text and "recall" not in page.text.lower()
    assert incident.title not in page.text
    assert incident.number not in client.get("/status", headers=ENGLISH).text


def test_an_unknown_number_is_the_public_not_found_page(client):
    page = client.get("/status/INC-2026-9999", headers=CHINESE)

    assert page.status_code == 404
    assert "没有编号为 INC-2026-9999 的事件" in page.text
    assert "/logout" not in page.text and 'href="/status"' in page.text


def test_the_language_switch_keeps_the_choice_in_a_cookie(client, recall):
    path = f"/status/{recall.number}"
    switched = client.get(f"/status/language?to=en&next={path}", follow_redirects=False)

    assert switched.status_code == 303 and switched.headers["location"] == path
    assert switched.headers["cache-control"] == "no-store"
    assert client.cookies.get(translations.LOCALE_COOKIE) == "en"
    assert TEXT["en"] in client.get(path, headers=CHINESE).text
    elsewhere = client.get(
        "/status/language?to=zh-CN&next=//evil.example/x", follow_redirects=False
    )
    assert elsewhere.headers["location"] == "/status"
    assert client.get("/status/language?to=fr", follow_redirects=False).status_code == 422


@pytest.mark.parametrize("path", ["/status", "/status/{number}"])
def test_cacheable_until_a_statement_is_published(
    client, session, recall, speakers, frozen_clock, path
):
    path = path.format(number=recall.number)
    first = client.get(path, headers=ENGLISH)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]

    assert first.headers["cache-control"] == "public, max-age=30"
    assert first.headers["vary"] == "Accept-Language, Cookie"
    for condition in (
        {"If-None-Match": etag},
        {"If-None-Match": f'W/{etag}, "other"'},
        {"If-Modified-Since": last_modified},
    ):
        again = client.get(path, headers={**ENGLISH, **condition})
        assert again.status_code == 304, condition
        assert again.content == b"" and again.headers["etag"] == etag
    other_language = client.get(path, headers={**CHINESE, "If-None-Match": etag})
    assert other_language.status_code == 200 and other_language.headers["etag"] != etag

    frozen_clock.advance(timedelta(minutes=5))
    publish(session, recall, speakers, stage="recall_in_progress")
    changed = client.get(path, headers={**ENGLISH, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.headers["last-modified"] != last_modified
    stale = client.get(path, headers={**ENGLISH, "If-Modified-Since": last_modified})
    assert stale.status_code == 200


def test_a_resolved_incident_moves_to_the_history_for_90_days(
    client, session, recall, speakers, frozen_clock
):
    publish(session, recall, speakers, stage="recall_closed")

    page = client.get("/status", headers=ENGLISH)
    assert "No current incidents" in page.text
    history = page.text[page.text.index('id="status-history"') :]
    assert f'href="/status/{recall.number}"' in history and "Recall closed" in history

    frozen_clock.advance(timedelta(days=91))
    later = client.get("/status", headers=ENGLISH)
    assert recall.number not in later.text
    assert client.get(f"/status/{recall.number}", headers=ENGLISH).status_code == 200


def test_drills_never_appear(client, session, shipped_playbooks, speakers):
    drill = make_incident(
        session, registry=shipped_playbooks, drill=True, scope=Scope(products=["DRILL-9"])
    )
    publish(session, drill, speakers, title={"zh-CN": "演练通报", "en": "Drill statement"})
    assert session.exec(select(Statement).where(Statement.incident_id == drill.id)).one().version

    board = client.get("/status", headers=ENGLISH)
    assert "Drill statement" not in board.text and "DRILL-9" not in board.text
    assert drill.number not in board.text
    assert client.get(f"/status/{drill.number}", headers=ENGLISH).status_code == 404
    published = session.exec(
        select(TimelineEvent).where(
            TimelineEvent.subject_id == drill.id, TimelineEvent.kind == "statement.published"
        )
    ).one()
    assert published.public is False


def test_no_personal_data_on_any_public_page(client, session, shipped_playbooks, recall, speakers):
    customer = make_customer(
        session, name="李秀英", phone="+8613912345678", email="li.xiuying@example.com"
    )
    ticket = make_ticket(
        session,
        registry=shipped_playbooks,
        customer_name="赵志强",
        phone="+8613800001111",
        email="zhao.zhiqiang@example.com",
        description="我的 PX-200 冒烟了,电话 13800001111",
        product_model="PX-200",
        batch="B7",
    )
    incident_service.post_update(
        session,
        incident=recall,
        update=UpdatePost(body="Called 李秀英 on +8613912345678 about the fire"),
        actor=speakers.approver,
    )
    session.flush()
    people = session.exec(select(User)).all()
    secrets = {
        customer.name,
        customer.phone,
        customer.email,
        ticket.contact,
        ticket.number,
        "赵志强",
        "13800001111",
        "Called 李秀英",
        recall.title,
        "王建国",
    }
    secrets |= {
        value
        for person in people
        for value in (person.display_name, person.username, person.email, person.phone)
        if value
    }
    pages = [
        client.get(path, headers=language)
        for path in ("/status", f"/status/{recall.number}", "/status/INC-0")
        for language in (CHINESE, ENGLISH)
    ]

    for page in pages:
        found = sorted(secret for secret in secrets if secret in page.text)
        assert found == [], page.url


def test_a_render_costs_few_queries(client, database, recall):
    statements = []

    def count(connection, cursor, statement, *_):
        # What the page asks the database: not the test's savepoints, nor the live
        # announcements of what the test set up, sent when its transaction commits.
        if statement.startswith("SELECT") and "pg_notify" not in statement:
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        for path in ("/status", f"/status/{recall.number}"):
            statements.clear()
            assert client.get(path).status_code == 200
            assert len(statements) == 2, statements
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


@needs_chromium
def test_the_public_pages_in_chromium(live_server, shipped_playbooks, tmp_path):
    with db.session_scope() as session:
        speakers = Speakers(make_user(session, Role.comms), make_user(session, Role.duty_manager))
        recall = make_incident(
            session,
            registry=shipped_playbooks,
            scope=Scope(products=["PX-200"], batches=["B7", "B8"], regions=["Guangdong", "Fujian"]),
        )
        publish(session, recall, speakers, title=TITLE, text=TEXT, advice=ADVICE)
        outage = make_incident(
            session,
            registry=shipped_playbooks,
            playbook="service-outage",
            scope=Scope(regions=["Shanghai"]),
        )
        publish(session, outage, speakers, stage="investigating")
        number = recall.number
    with chromium() as browser:
        for locale in (Locale.zh_CN, Locale.en):
            context = browser.new_context(
                locale=locale.value, extra_http_headers={"Accept-Language": locale.value}
            )
            page = context.new_page()
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 844})
                page.goto(f"{live_server}/status")
                assert page.inner_text("html").count(TITLE[locale.value]) == 1
                shot(page, tmp_path, f"status-board-{locale}-{width}")
                page.click(f"h2 a[href='/status/{number}']")
                page.wait_for_url(f"**/status/{number}")
                assert ADVICE[locale.value] in page.inner_text(".status-advice")
                shot(page, tmp_path, f"status-incident-{locale}-{width}")
            other = Locale.en if locale == Locale.zh_CN else Locale.zh_CN
            page.click(f".status-languages a[lang='{other}']")
            page.wait_for_url(f"**/status/{number}")
            assert TEXT[other.value] in page.inner_text("main")
            context.close()
