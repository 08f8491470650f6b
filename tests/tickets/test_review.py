"""The monthly review, the calendar job that runs it once, the CLI and the SMS webhook."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from incident_cmd import db
from incident_cmd.cli import app as cli
from incident_cmd.config import get_settings
from incident_cmd.tickets import lifecycle, review, surveys
from incident_cmd.tickets.models import Ticket
from incident_cmd.tickets.schemas import SurveyAnswer, TicketResolve
from tests.factories import bearer, make_service_desk
from tests.plugins.twilio import file_inbox, signed


def _resolved(queue, frozen_clock, *, hours: float, ticket: Ticket | None = None, **fields):
    ticket = ticket or queue.take_in()
    frozen_clock.advance(timedelta(hours=hours))
    lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="done", **fields),
        actor=queue.user(queue.agent),
    )
    return ticket


def _closed(queue, frozen_clock, *, hours: float, **fields) -> Ticket:
    ticket = _resolved(queue, frozen_clock, hours=hours, **fields)
    queue.move(ticket, "closed")
    return ticket


def test_the_monthly_review_counts_the_cases_closed_in_the_month(queue, frozen_clock):
    start = frozen_clock()
    first = _closed(
        queue, frozen_clock, hours=2, responsible_department="quality", compensation_amount=800
    )
    second = _closed(
        queue, frozen_clock, hours=50, responsible_department="logistics", compensation_amount=12000
    )
    surveys.record_survey(
        queue.session, ticket=first, answer=SurveyAnswer(csat=5, nps=10), via="sms"
    )
    surveys.record_survey(
        queue.session, ticket=second, answer=SurveyAnswer(csat=2, nps=3), via="sms"
    )
    _resolved(queue, frozen_clock, hours=1)  # resolved, not closed: not a case of the month
    late = queue.take_in("插座漏电")
    # Closed on 1 December 00:30 in Shanghai: a case of December, opened in November.
    frozen_clock.set(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    _closed(queue, frozen_clock, hours=0, ticket=late)
    frozen_clock.set(start + timedelta(days=10))
    report = review.monthly_review(queue.session, period="2026-11")
    assert (report["closed"], report["opened"]) == (2, 4)
    assert report["due_by"] == "2026-12-10T01:00:00+00:00"  # the 10th, 09:00 in Shanghai
    assert report["by_category"] == {"product_quality": 2}
    # Both were answered at resolution: after 2 h (in time) and 50 h (late).
    assert report["sla_attainment"]["response"] == {
        "met_in_time": 1,
        "missed": 1,
        "running": 0,
        "attainment": 0.5,
    }
    assert report["resolution"]["count"] == 2 and report["resolution"]["median_hours"] == 26.0
    assert report["csat"] == {"answers": 2, "mean": 3.5, "satisfied_share": 0.5}
    assert report["nps"] == {"answers": 2, "score": 0.0}
    assert report["by_department"] == {"quality": 1, "logistics": 1}
    # A customer's compensation is no staff penalty: no approval route (001 6-4) is named.
    assert report["compensation"] == {
        "items": [
            {"ticket": first.number, "amount": 800, "department": "quality"},
            {"ticket": second.number, "amount": 12000, "department": "logistics"},
        ],
        "total": 12800,
        "by_department": {"quality": 800, "logistics": 12000},
    }
    assert "approv" not in json.dumps(report)
    rows = list(csv.reader(io.StringIO(review.as_csv(report))))
    assert rows[0] == ["section", "key", "value"]
    assert ["compensation_by_department", "logistics", "12000.0"] in rows
    december = review.monthly_review(queue.session, period="2026-12")
    assert (december["closed"], december["opened"]) == (1, 0)


def test_the_calendar_job_runs_once_a_month(queue, frozen_clock):
    frozen_clock.set(datetime(2026, 12, 1, 1, tzinfo=UTC))  # 09:00 on 1 December in Shanghai
    assert review.run_monthly_review(queue.session) == 1
    assert review.run_monthly_review(queue.session) == 0
    stored = review.stored_review(queue.session, period="2026-11")
    assert stored.result["period"] == "2026-11"


def test_review_over_the_api_as_json_and_csv(client, queue):
    duty = bearer(queue.session, queue.user(queue.desk.duty_manager))
    assert client.get("/api/v1/reviews/monthly/2026-11", headers=duty).json()["closed"] == 0
    as_csv = client.get("/api/v1/reviews/monthly/2026-11?format=csv", headers=duty)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert client.get("/api/v1/reviews/monthly/2026-13", headers=duty).status_code == 422
    agent = bearer(queue.session, queue.user(queue.agent))
    assert client.get("/api/v1/reviews/monthly/2026-11", headers=agent).status_code == 403


def test_cli_takes_a_ticket_in_and_prints_the_review(use_database, shipped_playbooks):
    with db.session_scope() as session:
        agent = make_service_desk(session).agents[0]
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "ticket",
            "create",
            "--as",
            agent,
            "--phone",
            "13912340000",
            "--description",
            "kettle gives electric shock",
        ],
    )
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("TKT-2026-000001 product_quality urgent")
    bad = runner.invoke(cli, ["ticket", "create", "--as", agent, "--description", "x"])
    assert bad.exit_code == 1 and "phone or email" in bad.output
    listed = runner.invoke(cli, ["ticket", "list"])
    assert "TKT-2026-000001" in listed.stdout
    report = runner.invoke(cli, ["review", "monthly", "2026-11", "--csv"])
    assert report.exit_code == 0 and "section,key,value" in report.stdout
    wrong = runner.invoke(cli, ["review", "monthly", "November"])
    assert wrong.exit_code == 1 and "YYYY-MM" in wrong.output


def test_a_customer_sms_through_the_signed_webhook_becomes_a_ticket(client, queue, monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_TWILIO_AUTH_TOKEN", "test-auth-token")
    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", "https://incident.example.com")
    get_settings.cache_clear()
    params = {
        "MessageSid": "SM77",
        "From": "+8613900000999",
        "To": "+15005550006",
        "Body": "热水壶漏电,很危险",
    }
    url = "https://incident.example.com/webhooks/twilio/inbound"
    unsigned = client.post("/webhooks/twilio/inbound", data=params)
    assert unsigned.status_code == 403
    response = client.post("/webhooks/twilio/inbound", data=params, headers=signed(url, params))
    assert response.status_code == 200
    duty = bearer(queue.session, queue.user(queue.desk.duty_manager))
    # Kept, not yet a ticket: the worker's inbox sweep files it.
    assert client.get("/api/v1/tickets", headers=duty).json()["items"] == []
    assert file_inbox(queue.session, client.app) == 1
    [ticket] = client.get("/api/v1/tickets", headers=duty).json()["items"]
    assert (ticket["priority"], ticket["safety"]) == ("urgent", True)
    again = client.post("/webhooks/twilio/inbound", data=params, headers=signed(url, params))
    assert again.status_code == 200
    assert file_inbox(queue.session, client.app) == 0
    assert len(client.get("/api/v1/tickets", headers=duty).json()["items"]) == 1
