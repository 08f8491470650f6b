"""An incident's review as Markdown, HTML and PDF (/incidents/{id}/review.md|.html|.pdf): the
same document in each, in the language asked for, Chinese drawn in the PDF with the font the
machine has; refused when the review has not started or the language is not one we speak."""

import io
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlmodel import select

from incident_cmd.auth import service as auth_service
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.paging import flows as paging_flows
from incident_cmd.paging import queries as paging_queries
from incident_cmd.paging.models import AnswerRoute
from incident_cmd.postmortems import flows
from incident_cmd.postmortems.models import Section
from incident_cmd.postmortems.schemas import FollowUpCreate
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import reports
from tests.factories import make_ticket
from tests.plugins.clock import START
from tests.plugins.web import PASSWORD, SHOTS, login


def _written(session, registry, frozen_clock, cast, *, title: str) -> None:
    """Cast's recall, retitled, with a complaint 40 minutes before its declaration, its first
    page answered after 3 minutes, resolved five hours after it, its review written with a pipe in a follow-up's title, and its
    declaration starred."""
    incident = cast.incident
    incident.title = title
    session.add(incident)
    ticket = make_ticket(session, registry=registry)
    ticket.incident_id = incident.id
    ticket.created_at = START - timedelta(minutes=40)
    session.add(ticket)
    declared = session.exec(
        select(TimelineEvent).where(
            TimelineEvent.subject_id == incident.id, TimelineEvent.kind == "incident.declared"
        )
    ).one()
    timeline.star(session, event=declared, actor_id=cast.duty.id)
    # The first seat paged answers after three minutes; the others never do.
    frozen_clock.set(START + timedelta(minutes=3))
    page = paging_queries.pages_of(session, incident=incident)[0]
    target = paging_queries.targets_of(session, page_ids=[page.id])[0]
    paging_flows.acknowledge(session, target=target, via=AnswerRoute.api)
    frozen_clock.set(START + timedelta(hours=5))
    incident_flows.transition(
        session,
        incident=incident,
        change=StatusChange(status=IncidentStatus.resolved),
        actor=cast.duty,
    )
    for section, text in (
        (Section.summary, "Batch B7 cells overheated; three customers hurt."),
        (Section.causes, "A supplier changed the cell chemistry. #supplier-parts"),
    ):
        flows.edit_section(
            session, incident_id=incident.id, section=section, text=text, actor=cast.duty
        )
    flows.add_followup(
        session,
        incident_id=incident.id,
        data=FollowUpCreate(
            title="Fit a thermal fuse | both models",
            owner=cast.quality.username,
            due_on=date(2026, 12, 4),
        ),
        actor=cast.duty,
    )
    auth_service.set_password(session, user=cast.duty, password=PASSWORD, actor_id=None)
    session.flush()


def test_the_review_as_markdown(client, session, shipped_playbooks, frozen_clock, cast):
    _written(session, shipped_playbooks, frozen_clock, cast, title="PX-200 batteries overheating")
    assert login(client, cast.duty.username).status_code == 303
    answer = client.get(f"/incidents/{cast.incident.id}/review.md?lang=en")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/markdown; charset=utf-8"
    number = cast.incident.number
    assert f'filename="{number}-review-en.md"' in answer.headers["content-disposition"]
    text = answer.text
    assert text.startswith(f"# Post-incident review · {number}\n\nPX-200 batteries overheating\n")
    for line in (
        f"- **Number**: {number}",
        "- **Kind**: Product recall",
        "- **Status**: In review",
        # 09:00 and 14:00 in Shanghai, the reader's zone.
        "- **Declared**: 2026-11-23 09:00",
        "- **Resolved**: 2026-11-23 14:00",
        "## Figures",
        "- **Time to detect**: 40 min",
        "- **Time to resolution**: 5 h 0 min",
        "**Time to acknowledge, per seat**",
        "| Role | Acknowledged after | Target |",
        "| Commander | 3 min | 5 min |",
        "**Linked complaints per hour (1 in all)**",
        "| 2026-11-23 08:00 | 1 |",
        "## Summary\n\nBatch B7 cells overheated; three customers hurt.",
        "## Causes and contributing factors\n\nA supplier changed the cell chemistry.",
        "## What went well\n\n_Not written yet._",
        "## Starred timeline entries",
        "## Review checklist",
        "| Reconstruct the timeline and each response time |",
        "## Follow-up actions",
        # The pipe is the cell's own, not a column.
        f"| Fit a thermal fuse \\| both models | {cast.quality.username} | 2026-12-04 | Open |",
    ):
        assert line in text, line
    assert text.index("## Summary") < text.index("## Starred") < text.index("## Follow-up")
    starred = text[text.index("## Starred timeline entries") : text.index("## Review checklist")]
    assert "| 2026-11-23 09:00 |" in starred and cast.duty.username in starred


def test_the_review_in_chinese_follows_the_reader_or_lang(
    client, session, shipped_playbooks, frozen_clock, cast
):
    _written(session, shipped_playbooks, frozen_clock, cast, title="PX-200 电池过热召回")
    cast.duty.locale = "zh-CN"
    session.add(cast.duty)
    session.flush()
    assert login(client, cast.duty.username).status_code == 303
    path = f"/incidents/{cast.incident.id}/review"
    chinese = client.get(f"{path}.md").text
    assert chinese.startswith(f"# 问题复盘 · {cast.incident.number}")
    assert "- **类型**: 产品召回" in chinese and "## 后续行动" in chinese
    assert "# Post-incident review" in client.get(f"{path}.md?lang=en").text
    html = client.get(f"{path}.html")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="zh-CN">' in html.text and "<h1>问题复盘 · " in html.text
    # The page's CSP admits the document's own style sheet.
    nonce = html.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in html.text
    # The review page leads to the three.
    page = client.get(path).text
    for form in ("md", "html", "pdf"):
        assert f'href="{path}.{form}"' in page


def test_the_pdf_draws_chinese(client, session, shipped_playbooks, frozen_clock, cast):
    font = reports.report_font()
    if font is None:
        pytest.skip("no Chinese font on this machine (scripts/test-services installs one)")
    _written(session, shipped_playbooks, frozen_clock, cast, title="PX-200 电池过热召回")
    assert login(client, cast.duty.username).status_code == 303
    answer = client.get(f"/incidents/{cast.incident.id}/review.pdf?lang=zh-CN")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(answer.content))
    first = pdf.pages[0].extract_text()
    # The text layer holds the Chinese itself, not boxes: the font was embedded and used.
    assert "PX-200 电池过热召回" in first and "问题复盘" in first
    assert "发现用时" in first
    fonts = {
        str(resource["/BaseFont"])
        for page in pdf.pages
        for resource in page["/Resources"]["/Font"].values()
    }
    assert any("WenQuanYi" in name or "Report" in name or "CJK" in name for name in fonts), fonts
    if shutil.which("pdftoppm"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "review-reports-review.pdf").write_bytes(answer.content)
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(SHOTS / "review-reports-review.pdf"),
                str(SHOTS / "review-reports-review-pdf-zh-CN"),
            ],
            check=True,
        )


def test_no_review_no_document_and_a_language_we_do_not_speak(
    client, session, shipped_playbooks, cast
):
    auth_service.set_password(session, user=cast.viewer, password=PASSWORD, actor_id=None)
    assert login(client, cast.viewer.username).status_code == 303
    path = f"/incidents/{cast.incident.id}/review"
    # Not resolved yet: there is no review to write down.
    assert client.get(f"{path}.md").status_code == 404
    incident_flows.transition(
        session,
        incident=cast.incident,
        change=StatusChange(status=IncidentStatus.resolved),
        actor=cast.duty,
    )
    session.flush()
    refused = client.get(f"{path}.pdf?lang=fr")
    assert refused.status_code == 422 and refused.json()["field"] == "lang"
    # A viewer reads the review page, so reads its documents too.
    assert client.get(f"{path}.md").status_code == 200


def test_signed_out_readers_are_sent_to_log_in(client, cast):
    answer = client.get(f"/incidents/{cast.incident.id}/review.pdf", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        f"/login?next=%2Fincidents%2F{cast.incident.id}%2Freview.pdf"
    )
