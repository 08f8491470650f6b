"""A new kind of incident is one playbook file and no code: declared through the API, it is
named by its playbook on the board, in the room, on the public status page and in the
quarterly review, and the public feeds carry it. A deployment that renames it changes the
public pages' tags, so no reader keeps the old name from a cache."""

import shutil

import pytest

from incident_cmd.auth.models import Role
from incident_cmd.config import PROJECT_ROOT
from incident_cmd.i18n import Locale
from incident_cmd.playbooks.service import PlaybookRegistry
from tests.factories import bearer, make_playbook_teams, make_user
from tests.plugins.web import sign_in

COLD_CHAIN = """\
key: cold-chain
name:
  zh-CN: 冷库温控失灵导致药品变质
  en: Cold store temperature control failed
kind: cold-chain-failure
severities:
  - key: sev1
    name: {zh-CN: 一级, en: Level 1}
    respond_within: 15m
    resolve_within: 8h
roles:
  - key: commander
    title: {zh-CN: 总指挥, en: Commander}
    team: executives
    rotation: commander
    page: true
tasks:
  - key: move_stock
    title: {zh-CN: 转移库存, en: Move the stock to a working store}
    role: commander
    due: 1h
"""
KIND = "kind: cold-chain-failure\n"
NAMED_KIND = KIND + "kind_name:\n  zh-CN: 冷链故障\n  en: Cold-chain failure\n"
KIND_NAME = {Locale.en: "Cold-chain failure", Locale.zh_CN: "冷链故障"}
PLAYBOOK_NAME = {
    Locale.en: "Cold store temperature control failed",
    Locale.zh_CN: "冷库温控失灵导致药品变质",
}
STATEMENT_TITLE = {"zh-CN": "冷库温度异常", "en": "Cold store temperature"}
LANGUAGE = {Locale.en: "en-US,en;q=0.9", Locale.zh_CN: "zh-CN,zh;q=0.9"}
ENGLISH = {"Accept-Language": LANGUAGE[Locale.en]}


def _served(tmp_path, playbook: str) -> PlaybookRegistry:
    folder = tmp_path / "playbooks"
    shutil.copytree(PROJECT_ROOT / "playbooks", folder)
    (folder / "cold-chain.yaml").write_text(playbook, encoding="utf-8")
    return PlaybookRegistry.from_directory(folder, PROJECT_ROOT / "templates")


@pytest.fixture(params=["kind_name", "playbook name"])
def named_by(request) -> str:
    return request.param


@pytest.fixture
def served_playbooks(tmp_path, named_by) -> PlaybookRegistry:
    if named_by == "kind_name":
        return _served(tmp_path, COLD_CHAIN.replace(KIND, NAMED_KIND))
    return _served(tmp_path, COLD_CHAIN)


def _declare_and_publish(client, session, registry: PlaybookRegistry) -> dict:
    """The incident declared through the API, and a statement about it published."""
    make_playbook_teams(session, registry.get("cold-chain").playbook)
    duty = bearer(session, make_user(session, Role.duty_manager))
    spokesperson = bearer(session, make_user(session, Role.comms))
    declared = client.post(
        "/api/v1/incidents",
        json={
            "playbook": "cold-chain",
            "title": "Store 3 at 12 °C",
            "severity": "sev1",
            "scope": {"products": ["Vaccine A"], "regions": ["Guangdong"]},
        },
        headers=duty,
    )
    assert declared.status_code == 201, declared.text
    incident = declared.json()
    url = f"/api/v1/incidents/{incident['id']}/statements"
    drafted = client.post(
        url,
        json={
            "stage": "investigating",
            "title": STATEMENT_TITLE,
            "text": {"zh-CN": "我们正在核查。", "en": "We are checking the stock."},
        },
        headers=spokesperson,
    )
    assert drafted.status_code == 201, drafted.text
    statement = drafted.json()["id"]
    assert client.post(f"{url}/{statement}/approve", headers=duty).status_code == 200
    assert client.post(f"{url}/{statement}/publish", headers=spokesperson).status_code == 200
    return incident


@pytest.mark.parametrize("locale", [Locale.en, Locale.zh_CN])
def test_a_new_kind_is_named_by_its_playbook_everywhere_it_is_shown(
    client, session, served_playbooks, named_by, locale
):
    assert served_playbooks.get("cold-chain").playbook.kind == "cold-chain-failure"
    incident = _declare_and_publish(client, session, served_playbooks)
    assert incident["kind"] == "cold-chain-failure"
    name = (KIND_NAME if named_by == "kind_name" else PLAYBOOK_NAME)[locale]

    sign_in(client, session, Role.duty_manager, locale=locale)
    pages = {
        "board": client.get("/"),
        "room": client.get(f"/incidents/{incident['id']}"),
        "declare": client.get("/declare"),
        "quarterly review": client.get("/reviews/quarterly?quarter=2026-Q4"),
        "status page": client.get("/status", headers={"Accept-Language": LANGUAGE[locale]}),
        "incident's status page": client.get(
            f"/status/{incident['number']}", headers={"Accept-Language": LANGUAGE[locale]}
        ),
    }
    for page, answer in pages.items():
        assert answer.status_code == 200, page
        assert name in answer.text, page
        assert "cold-chain-failure" not in answer.text, page

    summary = client.get(f"/api/v2/summary.json?lang={locale.value}").json()
    [listed] = summary["incidents"]
    assert listed["name"] == STATEMENT_TITLE[locale.value]
    # A kind the feeds know nothing of touches customers a little, as complaints do.
    assert listed["impact"] == "minor"
    feed = client.get("/status/feed.atom", headers={"Accept-Language": LANGUAGE[locale]})
    assert STATEMENT_TITLE[locale.value] in feed.text


def test_a_kind_renamed_by_a_new_deployment_is_not_answered_from_a_cached_page(
    app, client, session, served_playbooks, tmp_path
):
    incident = _declare_and_publish(client, session, served_playbooks)
    page = f"/status/{incident['number']}"
    cached = {path: client.get(path, headers=ENGLISH).headers["etag"] for path in ("/status", page)}
    renamed = NAMED_KIND.replace("Cold-chain failure", "Cold chain broken")
    app.state.playbooks = _served(tmp_path / "deployed", COLD_CHAIN.replace(KIND, renamed))
    for path, etag in cached.items():
        answer = client.get(path, headers={**ENGLISH, "If-None-Match": etag})
        assert answer.status_code == 200, path
        assert "Cold chain broken" in answer.text, path
