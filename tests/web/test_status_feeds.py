"""The public feeds: Atom (valid XML, every published statement newest first, in the reader's
language) and Statuspage's read API (its shapes), cacheable until a statement is published,
and never a person, an internal update or a drill."""

import asyncio
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlmodel import col, select

from incident_cmd.auth.models import User
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.schemas import Scope, UpdatePost
from incident_cmd.statements.models import Statement
from incident_cmd.web import public_cache
from tests.factories import make_customer, make_incident, make_ticket
from tests.plugins.statements import ADVICE, TEXT, TITLE, publish
from tests.plugins.web import CHINESE, ENGLISH

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
STATUSPAGE = ("/api/v2/summary.json", "/api/v2/status.json", "/api/v2/incidents.json")
ALL_JSON = (*STATUSPAGE, "/api/v2/incidents/unresolved.json")
OUTAGE_TITLE = {"zh-CN": "客服热线中断", "en": "Hotline outage"}


@pytest.fixture
def recall(session, shipped_playbooks, speakers, frozen_clock):
    """A recall with two statements (the second a minute after the first)."""
    incident = make_incident(
        session,
        registry=shipped_playbooks,
        title="王建国 reported PX-200 smoke",
        scope=Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"]),
    )
    publish(session, incident, speakers, title=TITLE, text=TEXT, advice=ADVICE)
    frozen_clock.advance(timedelta(minutes=1))
    publish(
        session,
        incident,
        speakers,
        stage="recall_in_progress",
        title=TITLE,
        text={"zh-CN": "回收已开始。", "en": "Collection has started."},
    )
    return incident


@pytest.fixture
def outage(session, shipped_playbooks, speakers, frozen_clock, recall):
    """An outage whose statement came out after the recall's, then resolved."""
    incident = make_incident(
        session,
        registry=shipped_playbooks,
        playbook="service-outage",
        scope=Scope(regions=["Shanghai"]),
    )
    frozen_clock.advance(timedelta(minutes=1))
    publish(session, incident, speakers, stage="investigating", title=OUTAGE_TITLE)
    frozen_clock.advance(timedelta(minutes=1))
    publish(session, incident, speakers, stage="resolved", title=OUTAGE_TITLE)
    return incident


def _entries(feed: ET.Element) -> list[ET.Element]:
    return feed.findall(f"{ATOM}entry")


def _text(element: ET.Element, name: str) -> str:
    found = element.find(f"{ATOM}{name}")
    assert found is not None, name
    return found.text or ""


# --- Atom ------------------------------------------------------------------------------------


def test_the_feed_is_atom_with_every_statement_newest_first(client, recall, outage):
    answer = client.get("/status/feed.atom", headers=ENGLISH)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.content)
    assert feed.tag == f"{ATOM}feed" and feed.get(XML_LANG) == "en"
    titles = [_text(entry, "title") for entry in _entries(feed)]
    assert titles == [
        f"{OUTAGE_TITLE['en']} (Resolved)",
        f"{OUTAGE_TITLE['en']} (Investigating)",
        f"{TITLE['en']} (Recall in progress)",
        f"{TITLE['en']} (Recall announced)",
    ]
    updated = [datetime.fromisoformat(_text(entry, "updated")) for entry in _entries(feed)]
    assert updated == sorted(updated, reverse=True)
    assert _text(feed, "updated") == _text(_entries(feed)[0], "updated")
    first = _entries(feed)[-1]
    assert TEXT["en"] in _text(first, "content") and ADVICE["en"] in _text(first, "content")
    link = first.find(f"{ATOM}link")
    assert link is not None and link.get("href", "").endswith(f"/status/{recall.number}#update-1")
    assert first.find(f"{ATOM}category").get("term") == "recall_announced"  # type: ignore[union-attr]
    ids = [_text(entry, "id") for entry in _entries(feed)]
    assert len(set(ids)) == 4 and all(item.startswith("tag:") for item in ids)


def test_the_feed_language_comes_from_lang_else_the_reader(client, recall):
    chinese = ET.fromstring(client.get("/status/feed.atom", headers=CHINESE).content)
    asked = ET.fromstring(client.get("/status/feed.atom?lang=zh-CN", headers=ENGLISH).content)
    english = ET.fromstring(client.get("/status/feed.atom?lang=en", headers=CHINESE).content)

    for feed in (chinese, asked):
        assert feed.get(XML_LANG) == "zh-CN"
        assert _text(_entries(feed)[-1], "title") == f"{TITLE['zh-CN']}（状态：召回已公告）"
        assert "您需要做什么" in _text(_entries(feed)[-1], "content")
    assert english.get(XML_LANG) == "en"
    assert TEXT["en"] in _text(_entries(english)[-1], "content")
    # One entry in two languages is two entries.
    assert _text(_entries(english)[0], "id") != _text(_entries(asked)[0], "id")
    assert client.get("/status/feed.atom?lang=fr").status_code == 422


def test_an_incidents_feed_has_only_its_statements(client, recall, outage):
    feed = ET.fromstring(client.get(f"/status/{recall.number}/feed.atom?lang=en").content)

    assert [_text(entry, "title") for entry in _entries(feed)] == [
        f"{TITLE['en']} (Recall in progress)",
        f"{TITLE['en']} (Recall announced)",
    ]
    assert recall.number in _text(feed, "title")
    assert client.get("/status/INC-0/feed.atom").status_code == 404


def test_an_empty_feed_is_still_valid_atom(client, session, shipped_playbooks):
    unannounced = make_incident(session, registry=shipped_playbooks)

    board = ET.fromstring(client.get("/status/feed.atom").content)
    own = ET.fromstring(client.get(f"/status/{unannounced.number}/feed.atom").content)

    assert _entries(board) == [] and _entries(own) == []
    assert _text(board, "updated") and _text(board, "title")


def test_drills_are_in_no_feed(client, session, shipped_playbooks, speakers, recall):
    drill = make_incident(
        session, registry=shipped_playbooks, drill=True, scope=Scope(products=["DRILL-9"])
    )
    publish(session, drill, speakers, title={"zh-CN": "演练通报", "en": "Drill statement"})

    assert client.get(f"/status/{drill.number}/feed.atom").status_code == 404
    for path in ("/status/feed.atom", *ALL_JSON):
        page = client.get(path, headers=ENGLISH)
        assert "Drill statement" not in page.text and "DRILL-9" not in page.text, path
        assert drill.number not in page.text, path


# --- Statuspage ------------------------------------------------------------------------------

PAGE_KEYS = {"id": str, "name": str, "url": str, "time_zone": str, "updated_at": str}
INCIDENT_KEYS = {
    "id": str,
    "name": str,
    "status": str,
    "created_at": str,
    "updated_at": str,
    "monitoring_at": (str, type(None)),
    "resolved_at": (str, type(None)),
    "impact": str,
    "shortlink": str,
    "started_at": str,
    "page_id": str,
    "incident_updates": list,
    "components": list,
}
UPDATE_KEYS = {
    "id": str,
    "status": str,
    "body": str,
    "incident_id": str,
    "created_at": str,
    "updated_at": str,
    "display_at": str,
}
COMPONENT_KEYS = {
    "id": str,
    "name": str,
    "status": str,
    "created_at": str,
    "updated_at": str,
    "position": int,
    "page_id": str,
    "group": bool,
    "only_show_if_degraded": bool,
}


def _shaped(value: dict, keys: dict) -> None:
    assert set(keys) <= set(value), set(keys) - set(value)
    for key, kind in keys.items():
        assert isinstance(value[key], kind), (key, value[key])
    for key, moment in value.items():
        if key.endswith("_at") and moment is not None:
            assert datetime.fromisoformat(moment).utcoffset() == timedelta(0), key


def test_the_summary_has_statuspages_shape(client, recall, outage):
    summary = client.get("/api/v2/summary.json", headers=ENGLISH)

    assert summary.status_code == 200 and summary.headers["content-type"] == "application/json"
    body = summary.json()
    assert set(body) == {"page", "status", "components", "incidents", "scheduled_maintenances"}
    _shaped(body["page"], PAGE_KEYS)
    assert body["page"]["url"].endswith("/status") and body["page"]["time_zone"] == "Asia/Shanghai"
    assert body["status"] == {"indicator": "critical", "description": "Major disruption"}
    assert body["scheduled_maintenances"] == []
    # Only the recall is unresolved; the outage was resolved.
    [incident] = body["incidents"]
    _shaped(incident, INCIDENT_KEYS)
    assert incident["id"] == recall.number and incident["name"] == TITLE["en"]
    assert incident["status"] == "monitoring" and incident["impact"] == "critical"
    assert incident["monitoring_at"] == incident["updated_at"] and incident["resolved_at"] is None
    assert incident["shortlink"].endswith(f"/status/{recall.number}")
    updates = incident["incident_updates"]
    for item in updates:
        _shaped(item, UPDATE_KEYS)
    assert [item["status"] for item in updates] == ["monitoring", "identified"]
    assert [item["id"] for item in updates] == [f"{recall.number}-2", f"{recall.number}-1"]
    assert TEXT["en"] in updates[1]["body"] and ADVICE["en"] in updates[1]["body"]
    [component] = body["components"]
    _shaped(component, COMPONENT_KEYS)
    assert component["name"] == "PX-200" and component["status"] == "major_outage"
    assert incident["components"] == [component]


def test_incidents_lists_the_resolved_ones_too_and_unresolved_does_not(client, recall, outage):
    listed = client.get("/api/v2/incidents.json?lang=zh-CN").json()
    unresolved = client.get("/api/v2/incidents/unresolved.json?lang=zh-CN").json()

    assert set(listed) == {"page", "incidents"}
    assert [item["id"] for item in listed["incidents"]] == [outage.number, recall.number]
    resolved = listed["incidents"][0]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == resolved["updated_at"]
    assert resolved["name"] == OUTAGE_TITLE["zh-CN"] and resolved["impact"] == "major"
    assert [item["id"] for item in unresolved["incidents"]] == [recall.number]


def test_status_is_none_when_nothing_is_open(client, session, recall, speakers):
    status = client.get("/api/v2/status.json?lang=zh-CN").json()
    assert status["status"]["indicator"] == "critical"

    publish(session, recall, speakers, stage="recall_closed", title=TITLE)
    closed = client.get("/api/v2/status.json?lang=zh-CN").json()
    summary = client.get("/api/v2/summary.json?lang=en").json()

    assert set(closed) == {"page", "status"}
    assert closed["status"] == {"indicator": "none", "description": "所有产品和服务运行正常"}
    assert summary["incidents"] == [] and summary["components"][0]["status"] == "operational"


def test_with_nothing_published_the_shapes_hold(client):
    summary = client.get("/api/v2/summary.json").json()

    _shaped(summary["page"], PAGE_KEYS)
    assert summary["incidents"] == [] and summary["components"] == []
    assert summary["status"]["indicator"] == "none"


def test_a_bad_language_is_refused_naming_it(client):
    answer = client.get("/api/v2/summary.json?lang=fr")

    assert answer.status_code == 422 and answer.json()["field"] == "lang"


# --- caching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/status/feed.atom", "/status/{number}/feed.atom", *STATUSPAGE])
def test_cacheable_until_a_statement_is_published(
    client, session, recall, speakers, frozen_clock, path
):
    path = path.format(number=recall.number)
    first = client.get(path, headers=ENGLISH)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]

    assert first.headers["cache-control"] == "public, max-age=30"
    assert first.headers["vary"] == "Accept-Language, Cookie"
    for condition in ({"If-None-Match": etag}, {"If-Modified-Since": last_modified}):
        again = client.get(path, headers={**ENGLISH, **condition})
        assert again.status_code == 304, condition
        assert again.content == b"" and again.headers["etag"] == etag
    chinese = client.get(path, headers={**CHINESE, "If-None-Match": etag})
    assert chinese.status_code == 200 and chinese.headers["etag"] != etag

    frozen_clock.advance(timedelta(minutes=5))
    publish(session, recall, speakers, stage="recall_in_progress", title=TITLE)
    changed = client.get(path, headers={**ENGLISH, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_the_json_paths_answer_differently_under_one_state(client, recall):
    tags = {client.get(path).headers["etag"] for path in ALL_JSON}

    assert len(tags) == len(ALL_JSON)


# --- no personal data ------------------------------------------------------------------------


def test_no_personal_data_in_any_feed(client, session, shipped_playbooks, recall, speakers):
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
    assert session.exec(select(Statement).where(Statement.incident_id == recall.id)).all()
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
        for person in session.exec(select(User)).all()
        for value in (person.display_name, person.username, person.email, person.phone)
        if value
    }
    paths = ("/status/feed.atom", f"/status/{recall.number}/feed.atom", *ALL_JSON)
    answers = [
        client.get(path, headers=language) for path in paths for language in (CHINESE, ENGLISH)
    ]

    for answer in answers:
        assert answer.status_code == 200
        # JSON escapes non-ASCII: read what it says, not how it is written.
        text = (
            json.dumps(answer.json(), ensure_ascii=False)
            if answer.headers["content-type"] == "application/json"
            else answer.text
        )
        found = sorted(secret for secret in secrets if secret in text)
        assert found == [], answer.url


# --- the short-lived copy ----------------------------------------------------------------------


@pytest.fixture
def selects(database):
    """The SELECTs the application sends (not the live announcements of what tests commit)."""
    seen: list[str] = []

    def count(connection, cursor, statement, *_):
        if statement.startswith("SELECT") and "pg_notify" not in statement:
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    yield seen
    event.remove(database.engine, "before_cursor_execute", count)


@pytest.mark.parametrize("path", ["/status", "/status/{number}", "/api/v2/summary.json"])
def test_a_public_answer_is_kept_for_a_few_seconds(client, recall, frozen_clock, selects, path):
    path = path.format(number=recall.number)
    first = client.get(path, headers=ENGLISH)
    assert first.status_code == 200 and selects

    selects.clear()
    again = client.get(path, headers=ENGLISH)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert selects == []
    chinese = client.get(path, headers=CHINESE)
    assert selects and chinese.content != first.content

    frozen_clock.advance(timedelta(seconds=public_cache.SECONDS))
    selects.clear()
    assert client.get(path, headers=ENGLISH).status_code == 200
    assert selects


def test_a_statement_written_here_is_seen_at_once(client, session, recall, speakers):
    assert "Collection has started." in client.get(f"/status/{recall.number}", headers=ENGLISH).text

    publish(
        session,
        recall,
        speakers,
        stage="recall_in_progress",
        text={"zh-CN": "已回收一半。", "en": "Half are collected."},
    )

    assert "Half are collected." in client.get(f"/status/{recall.number}", headers=ENGLISH).text


def test_a_statement_written_elsewhere_is_seen_within_seconds(
    client, session, recall, frozen_clock
):
    path = f"/status/{recall.number}"
    assert TEXT["en"] in client.get(path, headers=ENGLISH).text
    # As another process would: no object of this one is written.
    session.execute(
        update(Statement)
        .where(col(Statement.incident_id) == recall.id, col(Statement.version) == 1)
        .values(text={"zh-CN": "另一进程写入。", "en": "Written by another process."})
    )
    session.flush()

    assert "Written by another process." not in client.get(path, headers=ENGLISH).text
    frozen_clock.advance(timedelta(seconds=public_cache.SECONDS))
    assert "Written by another process." in client.get(path, headers=ENGLISH).text


def test_what_is_not_for_everyone_is_never_kept(client, recall, selects):
    for _ in range(2):
        selects.clear()
        answer = client.get("/status/lookup?model=PX-200&batch=B7", headers=ENGLISH)
        assert answer.headers["cache-control"] == "no-store" and selects
    switched = client.get("/status/language?to=en&next=/status", follow_redirects=False)
    assert "set-cookie" in switched.headers
    assert (
        "set-cookie"
        in client.get("/status/language?to=en&next=/status", follow_redirects=False).headers
    )
    first = client.get("/status", headers=ENGLISH)
    revalidated = client.get("/status", headers={**ENGLISH, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304


def test_the_copies_are_bounded():
    async def page(scope, receive, send):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"cache-control", b"public, max-age=30")],
            }
        )
        await send({"type": "http.response.body", "body": scope["query_string"]})

    cache = public_cache.PublicResponseCache(page, entries=3)
    client = TestClient(cache)
    for n in range(5):
        assert client.get(f"/status?n={n}").content == f"n={n}".encode()

    assert [key[1] for key in cache._copies] == [b"n=2", b"n=3", b"n=4"]


def test_one_render_at_a_time_the_others_wait_or_take_the_last_copy(frozen_clock):
    renders: list[int] = []
    gate = asyncio.Event()

    async def page(scope, receive, send):
        renders.append(len(renders) + 1)
        number = len(renders)
        await gate.wait()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"cache-control", b"public, max-age=30")],
            }
        )
        await send({"type": "http.response.body", "body": f"render {number}".encode()})

    cache = public_cache.PublicResponseCache(page)

    async def get() -> bytes:
        scope = {"type": "http", "method": "GET", "path": "/status", "query_string": b""}
        scope["headers"] = []
        sent: list[bytes] = []

        async def send(message):
            if message["type"] == "http.response.body":
                sent.append(message["body"])

        await cache(scope, None, send)
        return b"".join(sent)

    async def scenario() -> None:
        readers = [asyncio.create_task(get()) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(*readers) == [b"render 1"] * 5
        assert renders == [1]

        frozen_clock.advance(timedelta(seconds=public_cache.SECONDS))
        gate.clear()
        renderer = asyncio.create_task(get())
        await asyncio.sleep(0)
        # While the successor renders, the expired copy answers.
        assert await get() == b"render 1"
        gate.set()
        assert await renderer == b"render 2"
        assert renders == [1, 2]

    asyncio.run(scenario())
