"""The after-action report and improvement plan of a drill run (/drills/{id}/aar.md|.html|
.pdf): the overview with its injects, each objective with its automatic result, ratings and
evidence, the hot wash's strengths and areas for improvement, and the plan; in the language
asked for, Chinese drawn in the PDF's text layer."""

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.drills import flows
from incident_cmd.web import reports
from tests.plugins.drills import acknowledge_commander, duty_client, person, post

MINUTE = timedelta(minutes=1)


def evaluated(drills, client_factory, frozen_clock):
    """Battery recall: the commander answers after 3 minutes, the wave fires at +2, nothing
    else is done; ended at +20 and evaluated."""
    run_id = drills.start("battery-recall")
    incident_id = drills.run(run_id).incident_id
    frozen_clock.advance(2 * MINUTE)
    drills.sweep()
    frozen_clock.advance(MINUTE)
    acknowledge_commander(incident_id)
    frozen_clock.advance(17 * MINUTE)
    drills.end(run_id)
    client = duty_client(drills, client_factory)
    evaluation = f"/drills/{run_id}/evaluation"
    post(
        client,
        f"{evaluation}/commander_ack/rating",
        evaluation,
        {"rating": "P", "notes": "Answered at once | calm"},
    )
    post(client, f"{evaluation}/holding_statement/rating", evaluation, {"rating": "U"})
    hot_wash = f"/drills/{run_id}/hotwash"
    post(client, hot_wash, hot_wash, {"kind": "strength", "text": "总指挥到位迅速"})
    post(client, hot_wash, hot_wash, {"kind": "improvement", "text": "没有人起草声明"})
    aar = f"/drills/{run_id}/aar"
    owner = person(Role.comms)
    post(
        client,
        f"{aar}/improvements",
        aar,
        {"title": "Pre-approve the holding statement", "owner": owner, "due_on": "2026-12-15"},
    )
    return client, run_id, owner


def test_the_markdown_report_in_english(drills, client_factory, frozen_clock):
    client, run_id, owner = evaluated(drills, client_factory, frozen_clock)
    answer = client.get(f"/drills/{run_id}/aar.md?lang=en")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/markdown")
    number = answer.headers["content-disposition"].split('filename="')[1].split("-aar")[0]
    text = answer.text
    assert text.startswith("# After-action report · Battery batch recall drill")
    assert "- **Exercise type**: Functional exercise" in text
    assert f"- **Drill incident**: {number}" in text
    # The injects and when they fired (or not).
    assert "| +2 min | 25 customers call in about PX-200" in text
    assert "| +15 min | A technology reporter calls" in text and "Not fired" in text
    # Objectives with their automatic results, times and ratings.
    assert (
        "| The commander acknowledges the page within 5 minutes | Met | 2026-11-23 09:00 |"
        " 5 min, by 2026-11-23 09:05 | 2026-11-23 09:03 | 3 min | P (" in text
    )
    assert "| A holding statement approved within 30 minutes | Missed |" in text
    assert "| Every complaint of the wave acknowledged within 30 minutes | Missed (0/25) |" in text
    # The evaluators' notes as written, a pipe kept inside its cell.
    assert "P: performed without challenges | Answered at once \\| calm |" in text
    assert "U: unable to be performed" in text
    # Evidence: the timeline entries, said as the room says them.
    assert "acknowledged the page for Commander" in text
    assert "| 总指挥到位迅速 |" in text.split("## Strengths")[1].split("##")[0]
    areas = text.split("## Areas for improvement")[1].split("##")[0]
    assert "Missed its target: A holding statement approved within 30 minutes" in areas
    assert "没有人起草声明" in areas
    plan = text.split("## Improvement plan")[1]
    assert f"| Pre-approve the holding statement | — | {owner} | 2026-12-15 | Open |" in plan
    assert f"follow-up action of {number}" in plan


def test_the_report_in_chinese_and_as_html(drills, client_factory, frozen_clock):
    client, run_id, _ = evaluated(drills, client_factory, frozen_clock)
    text = client.get(f"/drills/{run_id}/aar.md?lang=zh-CN").text
    assert text.startswith("# 演练总结报告 · 电池批次召回演练")
    assert "| 总指挥 5 分钟内确认呼叫 | 达成 |" in text
    assert "## 改进计划" in text and "## 亮点" in text
    html = client.get(f"/drills/{run_id}/aar.html?lang=zh-CN")
    assert html.status_code == 200 and '<html lang="zh-CN"' in html.text
    assert "总指挥到位迅速" in html.text
    bad = client.get(f"/drills/{run_id}/aar.md?lang=fr")
    assert bad.status_code == 422 and "lang" in bad.text


def test_the_pdf_draws_chinese(drills, client_factory, frozen_clock):
    if reports.report_font() is None:
        pytest.skip("no Chinese font on this machine (scripts/test-services installs one)")
    client, run_id, _ = evaluated(drills, client_factory, frozen_clock)
    answer = client.get(f"/drills/{run_id}/aar.pdf?lang=zh-CN")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(answer.content))
    text = "".join(page.extract_text() for page in pdf.pages)
    # The text layer holds the Chinese itself (the font embedded and used), not boxes.
    assert "演练总结报告" in text and "电池批次召回演练" in text and "改进计划" in text


def test_the_report_reads_the_evaluation_as_stored(drills, client_factory, frozen_clock):
    _, run_id, _ = evaluated(drills, client_factory, frozen_clock)
    with db.session_scope() as session:
        data = flows.evaluate(session, run_id=run_id)
    report = reports.drill_report(data=data, locale=reports.report_locale("en", "en"), zone="UTC")
    assert [part.anchor for part in report.parts] == [
        "overview",
        "objectives",
        "strengths",
        "areas",
        "notes",
        "plan",
    ]
    assert report.filename.endswith("-aar-en")
