"""The quarterly after-sales review meeting (售后复盘会) against a hand-worked quarter, in the
organisation's time zone (Asia/Shanghai, UTC+8).

2026-Q4 holds, by the Shanghai calendar:
- A, a recall at SEV1 declared 2026-10-01 00:10 (30 September 16:10 UTC), a complaint linked
  30 minutes before it, resolved 3 hours after; causes “#supplier-parts 和 #Firmware”.
- B, mass complaints at SEV2 declared 2026-11-10 10:00, resolved after 2 hours; causes
  “#supplier-parts”; a follow-up still open, due 2026-11-20.
- C, a recall at SEV2 declared 2026-11-20 10:00, resolved after 6 hours; causes untagged;
  its follow-up done.
- a drill declared 2026-11-15, resolved after 1 hour with an open follow-up: left out.
- E, a service outage at SEV1 declared 2026-12-31 23:30 (15:30 UTC, already 2027 nowhere
  that matters to the organisation): still open.
Outside it: one declared 2026-09-30 23:50 (Q3) and one at 2027-01-01 00:00 (Q1)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from incident_cmd.auth.models import Role
from incident_cmd.errors import Invalid
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.postmortems import flows, quarters
from incident_cmd.postmortems.models import Section
from incident_cmd.postmortems.schemas import FollowUpCreate
from tests.factories import make_incident, make_ticket, make_user
from tests.plugins.clock import START
from tests.plugins.web import PASSWORD, login

SHANGHAI = timedelta(hours=8)


def _local(*parts: int) -> datetime:
    """A Shanghai wall-clock time, as UTC."""
    return datetime(*parts, tzinfo=UTC) - SHANGHAI


def _declare(session, registry, clock, duty, at, playbook, severity, *, drill=False, title=""):
    clock.set(at)
    return make_incident(
        session,
        registry=registry,
        playbook=playbook,
        severity=severity,
        drill=drill,
        title=title or None,
        actor=duty,
    )


def _resolve(session, clock, duty, incident, after: timedelta, causes: str = "") -> None:
    clock.set(incident.declared_at + after)
    incident_flows.transition(
        session, incident=incident, change=StatusChange(status=IncidentStatus.resolved), actor=duty
    )
    if causes:
        flows.edit_section(
            session, incident_id=incident.id, section=Section.causes, text=causes, actor=duty
        )


def _follow_up(session, duty, incident, title: str, due_on: date):
    return flows.add_followup(
        session,
        incident_id=incident.id,
        data=FollowUpCreate(title=title, owner=duty.username, due_on=due_on),
        actor=duty,
    )


@pytest.fixture
def quarter(session, shipped_playbooks, frozen_clock):
    duty = make_user(session, Role.duty_manager, contactable=True, password=PASSWORD, locale="en")
    r = shipped_playbooks
    a = _declare(
        session, r, frozen_clock, duty, _local(2026, 10, 1, 0, 10), "product-recall", "sev1"
    )
    ticket = make_ticket(session, registry=r)
    ticket.incident_id = a.id
    ticket.created_at = a.declared_at - timedelta(minutes=30)
    session.add(ticket)
    _resolve(
        session, frozen_clock, duty, a, timedelta(hours=3), "电芯来料 #supplier-parts 和 #Firmware"
    )
    b = _declare(
        session, r, frozen_clock, duty, _local(2026, 11, 10, 10, 0), "mass-complaint", "sev2"
    )
    _resolve(session, frozen_clock, duty, b, timedelta(hours=2), "Again: #supplier-parts.")
    _follow_up(session, duty, b, "Audit the supplier's cell line", date(2026, 11, 20))
    c = _declare(
        session, r, frozen_clock, duty, _local(2026, 11, 20, 10, 0), "product-recall", "sev2"
    )
    _resolve(session, frozen_clock, duty, c, timedelta(hours=6), "Packaging was mislabelled.")
    done = _follow_up(session, duty, c, "Relabel the stock", date(2026, 11, 27))
    flows.complete_followup(session, incident_id=c.id, followup_id=done.id, note="", actor=duty)
    drill = _declare(
        session,
        r,
        frozen_clock,
        duty,
        _local(2026, 11, 15, 10, 0),
        "product-recall",
        "sev1",
        drill=True,
    )
    _resolve(session, frozen_clock, duty, drill, timedelta(hours=1), "#drill-only")
    _follow_up(session, duty, drill, "Drill lesson", date(2026, 11, 30))
    e = _declare(
        session, r, frozen_clock, duty, _local(2026, 12, 31, 23, 30), "service-outage", "sev1"
    )
    _declare(session, r, frozen_clock, duty, _local(2026, 9, 30, 23, 50), "service-outage", "sev2")
    _declare(session, r, frozen_clock, duty, _local(2027, 1, 1, 0, 0), "service-outage", "sev2")
    # The meeting is held on 2027-01-08.
    frozen_clock.set(_local(2027, 1, 8, 10, 0))
    session.flush()
    return duty, a, b, c, e


def test_quarter_boundaries_are_the_organisations():
    assert quarters.quarter_bounds("2026-Q4") == (
        datetime(2026, 9, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    assert quarters.quarter_bounds("2027-Q1")[0] == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    # 23:30 on 31 December in Shanghai is still the fourth quarter; midnight is the next.
    assert quarters.quarter_of(_local(2026, 12, 31, 23, 30)) == "2026-Q4"
    assert quarters.quarter_of(_local(2027, 1, 1, 0, 0)) == "2027-Q1"
    assert quarters.quarter_of(_local(2026, 10, 1, 0, 10)) == "2026-Q4"
    assert quarters.months_of("2026-Q4") == ["2026-10", "2026-11", "2026-12"]
    assert quarters.quarter_of(START) == "2026-Q4"


@pytest.mark.parametrize("bad", ["2026-Q5", "2026-Q0", "2026Q4", "26-Q4", "1969-Q4", "2026-q4", ""])
def test_a_quarter_that_is_not_one_names_the_field(bad):
    with pytest.raises(Invalid) as refused:
        quarters.quarter_bounds(bad)
    assert refused.value.field == "quarter"


def test_cause_tags_are_the_hash_words_of_the_causes():
    assert quarters.cause_tags("电芯来料 #供应商来料,#Firmware 与 ＃固件。 #firmware #12 # x") == [
        "供应商来料",
        "firmware",
        "固件",
    ]


def test_the_quarters_figures(session, quarter):
    duty, a, b, c, e = quarter
    data = flows.quarterly(session, quarter="2026-Q4")
    assert [item.number for item in data.incidents] == [a.number, b.number, c.number, e.number]
    assert data.drills_excluded == 1
    assert data.by_kind == {"product_recall": 2, "mass_complaint": 1, "service_outage": 1}
    assert data.by_severity == {"sev1": 2, "sev2": 2}
    october, november, december = data.months
    assert (october.month, october.incidents) == ("2026-10", 1)
    assert october.seconds_to_detect == 30 * 60
    assert october.seconds_to_resolution == 3 * 3600
    assert october.complaints == 1
    assert (november.month, november.incidents) == ("2026-11", 2)
    # The median of 2 and 6 hours; the drill's hour counts for nothing.
    assert november.seconds_to_resolution == 4 * 3600
    assert november.seconds_to_detect is None
    assert (december.month, december.incidents) == ("2026-12", 1)
    assert december.seconds_to_resolution is None
    assert [
        (item.number, item.title, item.owner, item.due_on, item.overdue)
        for item in data.open_followups
    ] == [(b.number, "Audit the supplier's cell line", duty.username, date(2026, 11, 20), True)]
    assert [(group.key, group.incidents) for group in data.cause_tags] == [
        ("supplier-parts", [a.number, b.number]),
        ("firmware", [a.number]),
    ]
    assert data.untagged == [c.number, e.number]
    assert [(group.key, group.incidents) for group in data.causes_by_kind] == [
        ("product_recall", [a.number, c.number]),
        ("mass_complaint", [b.number]),
        ("service_outage", [e.number]),
    ]


def test_the_quarter_as_markdown_and_page(client, session, quarter):
    duty, a, b, c, e = quarter
    assert login(client, duty.username).status_code == 303
    text = client.get("/reviews/quarterly.md?quarter=2026-Q4&lang=en").text
    assert text.startswith("# Quarterly after-sales review meeting · 2026-Q4\n")
    for line in (
        "- **Period**: 2026-10-01 – 2026-12-31 (Asia/Shanghai)",
        "- **Incidents**: 4",
        "- **Drills left out**: 1",
        "| Product recall | 2 |",
        "| SEV1 | 2 |",
        "| Figure | 2026-10 | 2026-11 | 2026-12 |",
        "| Incidents | 1 | 2 | 1 |",
        "| Time to detect | 30 min | — | — |",
        "| Time to resolution | 3 h 0 min | 4 h 0 min | — |",
        f"| {b.number} | Audit the supplier's cell line | {duty.username} | 2026-11-20 | Overdue |",
        f"| #supplier-parts | 2 | {a.number}, {b.number} |",
        f"- **Reviews naming no cause tag**: {c.number}, {e.number}",
    ):
        assert line in text, line
    assert "Drill lesson" not in text and "#drill-only" not in text
    chinese = client.get("/reviews/quarterly.md?quarter=2026-Q4&lang=zh-CN").text
    assert chinese.startswith("# 售后复盘会 · 2026-Q4") and "| 产品召回 | 2 |" in chinese
    page = client.get("/reviews/quarterly?quarter=2026-Q4")
    assert page.status_code == 200
    assert 'id="quarterly-charts"' in page.text and 'id="chart-times"' in page.text
    assert 'href="/reviews/quarterly.pdf?quarter=2026-Q4&amp;lang=en"' in page.text
    assert 'href="/reviews/quarterly?quarter=2026-Q3"' in page.text
    # Without a quarter: the current one, in the organisation's zone (now 2027-01-08).
    assert "2027-Q1" in client.get("/reviews/quarterly").text


def test_a_bad_quarter_is_refused_naming_the_field(client, session):
    make_user(session, Role.viewer, password=PASSWORD, username="viewer.q")
    assert login(client, "viewer.q").status_code == 303
    page = client.get("/reviews/quarterly?quarter=2026-Q5")
    assert page.status_code == 422
    assert 'data-field="quarter"' in page.text and "quarter &#39;2026-Q5&#39;" in page.text
    download = client.get("/reviews/quarterly.pdf?quarter=Q4-2026")
    assert download.status_code == 422 and download.json()["field"] == "quarter"
    assert client.get("/reviews/quarterly.md?lang=de").json()["field"] == "lang"
