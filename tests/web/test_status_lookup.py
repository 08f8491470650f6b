""" "Is my product affected?": a GET form on the status page, answered from the announced
incidents' scope only, bad input named next to its field, and a limit per client address."""

from datetime import timedelta

import pytest

from incident_cmd import db, deps
from incident_cmd.auth.models import Role
from incident_cmd.config import ConfigurationError
from incident_cmd.i18n import Locale
from incident_cmd.incidents.schemas import Scope
from incident_cmd.statements import lookup as product_lookup
from incident_cmd.web.lookup_limit import LOOKUPS_PER_WINDOW, WINDOW, LookupLimit
from tests.factories import make_incident, make_user
from tests.plugins.statements import ADVICE, TITLE, Speakers, publish
from tests.plugins.web import CHINESE, ENGLISH, chromium, needs_chromium, shot


@pytest.fixture
def recall(session, shipped_playbooks, speakers):
    incident = make_incident(
        session,
        registry=shipped_playbooks,
        scope=Scope(products=["PX-200"], batches=["B7", "B8"], regions=["Guangdong"]),
    )
    publish(session, incident, speakers, title=TITLE, advice=ADVICE)
    return incident


def _ask(client, model, batch, headers=ENGLISH):
    return client.get("/status/lookup", params={"model": model, "batch": batch}, headers=headers)


def test_the_status_page_carries_the_form(client):
    page = client.get("/status", headers=CHINESE)

    assert 'action="/status/lookup"' in page.text and 'method="get"' in page.text
    assert 'name="model"' in page.text and 'name="batch"' in page.text
    assert "我的产品是否受影响" in page.text


def test_an_affected_product_gets_the_advice_and_the_link(client, recall):
    answer = _ask(client, "px200", " b8 ")

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert "Yes: your product is affected" in answer.text
    assert ADVICE["en"] in answer.text and TITLE["en"] in answer.text
    assert f'href="/status/{recall.number}"' in answer.text
    assert "Regions concerned: Guangdong" in answer.text
    # The form comes back filled, to check another.
    assert 'value="px200"' in answer.text


def test_the_answer_in_chinese(client, recall):
    answer = _ask(client, "PX-200", "B7", headers=CHINESE)

    assert "是的：您的产品在影响范围内" in answer.text and ADVICE["zh-CN"] in answer.text
    not_affected = _ask(client, "PX-200", "B9", headers=CHINESE)
    assert "没有：您的产品不在影响范围内" in not_affected.text


def test_another_batch_or_model_is_not_affected(client, recall):
    for model, batch in (("PX-200", "B9"), ("PX-300", "B7")):
        answer = _ask(client, model, batch)
        assert answer.status_code == 200
        assert "No: your product is not affected" in answer.text
        assert recall.number not in answer.text and TITLE["en"] not in answer.text


def test_an_incident_without_a_published_statement_is_not_revealed(
    client, session, shipped_playbooks, speakers
):
    unannounced = make_incident(
        session, registry=shipped_playbooks, scope=Scope(products=["QX-9"], batches=["S1"])
    )
    drill = make_incident(
        session,
        registry=shipped_playbooks,
        drill=True,
        scope=Scope(products=["QX-9"], batches=["S1"]),
    )
    publish(session, drill, speakers, title={"zh-CN": "演练通报", "en": "Drill statement"})

    answer = _ask(client, "QX-9", "S1")

    assert "No: your product is not affected" in answer.text
    for hidden in (unannounced.number, drill.number, "Drill statement"):
        assert hidden not in answer.text


def test_a_closed_incident_is_named_as_closed(client, session, recall, speakers):
    publish(session, recall, speakers, stage="recall_closed", title=TITLE)

    answer = _ask(client, "PX-200", "B7")

    assert "No: your product is not affected" in answer.text
    assert "Closed matters that concerned this product" in answer.text
    assert f'href="/status/{recall.number}"' in answer.text


def test_an_incident_scoped_by_region_alone_is_not_about_products(
    client, session, shipped_playbooks, speakers
):
    outage = make_incident(
        session,
        registry=shipped_playbooks,
        playbook="service-outage",
        scope=Scope(regions=["Shanghai"]),
    )
    publish(session, outage, speakers, stage="investigating")

    assert "No: your product is not affected" in _ask(client, "PX-200", "B7").text


@pytest.mark.parametrize(
    ("model", "batch", "field", "message"),
    [
        ("", "B7", "model", "Fill this in."),
        ("PX-200", "   ", "batch", "Fill this in."),
        ("PX-200", "B7<script>", "batch", "Use only the letters, digits and - . / #"),
        ("P" * 101, "B7", "model", "Too long: at most 100 characters."),
    ],
)
def test_bad_input_is_named_next_to_its_field(client, recall, model, batch, field, message):
    answer = _ask(client, model, batch)

    assert answer.status_code == 400
    error = answer.text[answer.text.index(f'id="lookup-{field}-error"') :].split("</p>")[0]
    assert message in error
    assert f'aria-describedby="lookup-{field}-error"' in answer.text
    assert "is affected" not in answer.text and "not affected" not in answer.text
    assert "<script>" not in answer.text


def test_bad_input_in_chinese(client):
    answer = _ask(client, "PX-200", "B7;DROP", headers=CHINESE)

    assert answer.status_code == 400
    assert "请只填写标签上印的字母、数字和 - . / # 符号。" in answer.text


def test_only_the_parameters_given_count(client):
    """The bare form is no lookup: cacheable, and it costs the client nothing."""
    for _ in range(LOOKUPS_PER_WINDOW + 5):
        page = client.get("/status/lookup", headers=ENGLISH)
        assert page.status_code == 200
    assert page.headers["cache-control"] == "public, max-age=30"
    assert _ask(client, "PX-200", "B7").status_code == 200


def test_too_many_lookups_wait_for_the_window(client, recall, frozen_clock):
    for _ in range(LOOKUPS_PER_WINDOW):
        assert _ask(client, "PX-200", "B9").status_code == 200

    refused = _ask(client, "PX-200", "B7")
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= WINDOW.total_seconds()
    assert "Please try again in" in refused.text and "is affected" not in refused.text
    assert refused.headers["cache-control"] == "no-store"
    assert _ask(client, "PX-200", "B7", headers=CHINESE).status_code == 429

    frozen_clock.advance(timedelta(seconds=wait - 1))
    assert _ask(client, "PX-200", "B7").status_code == 429
    frozen_clock.advance(timedelta(seconds=1))
    allowed = _ask(client, "PX-200", "B7")
    assert allowed.status_code == 200 and "Yes: your product is affected" in allowed.text


def test_the_limit_is_per_address(client, recall):
    here = {"address": "203.0.113.1"}
    client.app.dependency_overrides[deps.client_address] = lambda: here["address"]
    for _ in range(LOOKUPS_PER_WINDOW + 1):
        last = _ask(client, "PX-200", "B7")
    assert last.status_code == 429

    here["address"] = "203.0.113.2"
    assert _ask(client, "PX-200", "B7").status_code == 200


def test_labels_compare_without_case_spaces_or_separators():
    assert product_lookup.comparable("PX-200") == product_lookup.comparable(" px 200 ")
    assert product_lookup.comparable("B7") != product_lookup.comparable("B77")


@needs_chromium
def test_the_lookup_in_chromium(live_server, shipped_playbooks, tmp_path):
    with db.session_scope() as session:
        speakers = Speakers(make_user(session, Role.comms), make_user(session, Role.duty_manager))
        recall = make_incident(
            session,
            registry=shipped_playbooks,
            scope=Scope(products=["PX-200"], batches=["B7", "B8"], regions=["Guangdong", "Fujian"]),
        )
        publish(session, recall, speakers, title=TITLE, advice=ADVICE)
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
                page.fill("#lookup-model", "PX-200")
                page.fill("#lookup-batch", "B8")
                page.click(".status-lookup button")
                page.wait_for_url("**/status/lookup?model=PX-200&batch=B8")
                assert ADVICE[locale.value] in page.inner_text(".status-lookup-affected")
                assert page.locator(f"a[href='/status/{number}']").count() >= 1
                shot(page, tmp_path, f"lookup-affected-{locale}-{width}")
                page.fill("#lookup-batch", "B7!")
                page.click(".status-lookup button")
                page.wait_for_url("**batch=B7%21")
                assert page.locator("#lookup-batch-error").is_visible()
                shot(page, tmp_path, f"lookup-invalid-{locale}-{width}")
                page.fill("#lookup-batch", "C1")
                page.click(".status-lookup button")
                page.wait_for_url("**batch=C1")
                assert page.locator(".status-lookup-clear").is_visible()
                shot(page, tmp_path, f"lookup-clear-{locale}-{width}")
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width
            context.close()


def test_an_unknown_counter_storage_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="status lookup limit"):
        LookupLimit(storage_uri="carrier-pigeon://loft")
