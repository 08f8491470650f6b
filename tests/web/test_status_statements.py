"""The staff's statements page: the draft form filled from the playbook's template, approval
by a second person, publication, corrections, and refusals next to the field."""

import re

import pytest
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.i18n import Locale
from incident_cmd.statements.models import Statement, StatementStatus
from tests.factories import make_incident, make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    needs_chromium,
    post_form,
    shot,
    sign_in,
)

INVESTIGATING_ZH = "我们收到部分产品存在质量隐患的反馈,正在紧急调查。请暂停使用相关产品。"
IDENTIFIED_EN = "The affected models and batches are confirmed and the recall has started"


@pytest.fixture
def recall(session, shipped_playbooks):
    return make_incident(session, registry=shipped_playbooks)


def page_path(incident) -> str:
    return f"/incidents/{incident.id}/statements"


def form_values(page_text: str) -> dict[str, str]:
    """The draft form's fields as the page fills them."""
    form = page_text[page_text.index('class="ticket-form statement-form"') :]
    form = form[: form.index("</form>")]
    values = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    values |= {
        name: text
        for name, text in re.findall(r'<textarea name="(\w+)"[^>]*>([^<]*)</textarea>', form)
    }
    values.pop("csrf_token", None)
    return values


def statements(session, incident):
    return session.exec(select(Statement).where(Statement.incident_id == incident.id)).all()


def test_the_draft_form_is_filled_from_the_playbooks_template(client, session, recall):
    sign_in(client, session, Role.comms, locale="zh-CN")

    first = client.get(page_path(recall))
    identified = client.get(f"{page_path(recall)}?stage=identified")

    assert first.status_code == 200
    assert form_values(first.text)["stage"] == "investigating"
    assert form_values(first.text)["text_zh"] == INVESTIGATING_ZH
    assert form_values(first.text)["title_zh"] == "产品质量召回 · PX-200"
    assert form_values(identified.text)["text_en"].startswith(IDENTIFIED_EN)
    assert "新建通报" in first.text and f'href="/status/{recall.number}"' in first.text


def test_drafted_approved_by_another_and_published_from_the_page(client, session, recall):
    sign_in(client, session, Role.comms)
    path = page_path(recall)
    values = form_values(client.get(f"{path}?stage=identified").text)

    drafted = post_form(client, path, values, token_from=path)
    assert drafted.status_code == 303, drafted.text
    [statement] = statements(session, recall)
    assert statement.template_key == "identified" and statement.status == StatementStatus.draft
    mine = client.get(path).text
    assert "Waiting for a second person to approve it." in mine
    assert f"/statements/{statement.id}/approve" not in mine

    sign_in(client, session, Role.duty_manager)
    approved = post_form(client, f"{path}/{statement.id}/approve", {}, token_from=path)
    assert approved.status_code == 303
    published = post_form(client, f"{path}/{statement.id}/publish", {}, token_from=path)
    assert published.status_code == 303
    session.refresh(statement)
    assert statement.status == StatementStatus.published and statement.version == 1
    assert "Version 1" in client.get(path).text
    assert (
        IDENTIFIED_EN
        in client.get(f"/status/{recall.number}", headers={"Accept-Language": "en"}).text
    )


def test_the_drafter_approving_their_own_is_refused_on_the_page(client, session, recall):
    sign_in(client, session, Role.admin)
    path = page_path(recall)
    post_form(client, path, form_values(client.get(path).text), token_from=path)
    [statement] = statements(session, recall)

    refused = post_form(client, f"{path}/{statement.id}/approve", {}, token_from=path)

    assert refused.status_code == 403
    assert "second person" in refused.text
    session.refresh(statement)
    assert statement.status == StatementStatus.draft


def test_a_field_left_empty_is_named_and_nothing_is_drafted(client, session, recall):
    sign_in(client, session, Role.comms)
    path = page_path(recall)
    values = form_values(client.get(path).text) | {"title_en": "  ", "advice_zh": "请停止使用。"}

    refused = post_form(client, path, values, token_from=path)

    assert refused.status_code == 400
    assert 'id="advice-error"' in refused.text
    assert statements(session, recall) == []
    only_advice = post_form(client, path, values | {"advice_zh": ""}, token_from=path)
    assert only_advice.status_code == 400 and 'id="title-error"' in only_advice.text
    assert statements(session, recall) == []


def test_a_viewer_sees_the_statements_but_may_not_draft(client, session, recall):
    sign_in(client, session, Role.viewer)
    path = page_path(recall)

    page = client.get(path)
    assert page.status_code == 200 and "statement-form" not in page.text
    values = {
        "stage": "investigating",
        "title_zh": "标题",
        "title_en": "Title",
        "text_zh": "内容",
        "text_en": "Text",
    }
    refused = post_form(client, path, values, token_from=path)

    assert refused.status_code == 403
    assert statements(session, recall) == []


def test_a_correction_starts_from_the_published_version(client, session, recall):
    sign_in(client, session, Role.comms)
    path = page_path(recall)
    post_form(client, path, form_values(client.get(path).text), token_from=path)
    [first] = statements(session, recall)
    sign_in(client, session, Role.duty_manager)
    for verb in ("approve", "publish"):
        assert (
            post_form(client, f"{path}/{first.id}/{verb}", {}, token_from=path).status_code == 303
        )
    sign_in(client, session, Role.comms)

    form = form_values(client.get(f"{path}?correct={first.id}").text)
    assert form["corrects"] == str(first.id) and form["text_zh"] == INVESTIGATING_ZH
    corrected = post_form(
        client, path, form | {"text_en": "Corrected: batch B8 too."}, token_from=path
    )

    assert corrected.status_code == 303
    correction = session.exec(select(Statement).where(Statement.corrects_id == first.id)).one()
    assert correction.text["en"] == "Corrected: batch B8 too." and correction.version is None
    session.refresh(first)
    assert first.text["zh-CN"] == INVESTIGATING_ZH


@needs_chromium
def test_the_statements_page_in_chromium(live_server, shipped_playbooks, tmp_path):
    with db.session_scope() as session:
        incident = make_incident(session, registry=shipped_playbooks)
        readers = {
            locale: make_user(session, Role.comms, password=PASSWORD, locale=locale).username
            for locale in (Locale.zh_CN, Locale.en)
        }
    path = f"{live_server}{page_path(incident)}"
    from playwright.sync_api import expect

    with chromium() as browser:
        for locale, username in readers.items():
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.goto(path)
            page.select_option("select[name=stage]", "identified")
            # htmx fills the form again with the stage's template, without a page load.
            expect(page.locator("textarea[name=text_en]")).to_have_value(
                re.compile("^" + re.escape(IDENTIFIED_EN))
            )
            page.click(".statement-form button[type=submit]")
            page.wait_for_selector(".statement-item")
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                shot(page, tmp_path, f"status-statements-{locale}-{width}")
            page.close()
