"""Subscribing as a reader's browser does: the form's page first (its CSRF token and
cookie), then the form; and a statement drafted, approved and published by two people."""

import re

from fastapi.testclient import TestClient
from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.statements import flows as statement_flows
from incident_cmd.statements.models import Statement
from incident_cmd.statements.schemas import StatementDraft
from tests.plugins.web import CHINESE

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/status/subscriptions/confirm/[A-Za-z0-9._-]+)")
UNSUBSCRIBE_LINK = re.compile(r"https?://[^/\s]+(/unsubscribe/subscriptions/[A-Za-z0-9._-]+)")


def same_site(client: TestClient) -> dict[str, str]:
    """The Origin a browser sends with a form of the site it is on."""
    return {"Origin": str(client.base_url).rstrip("/")}


def form_query(incident: str | None = None) -> str:
    return (
        f"/status/subscriptions/new?incident={incident}"
        if incident
        else ("/status/subscriptions/new")
    )


def subscribe(
    client: TestClient,
    address: str,
    *,
    incident: str | None = None,
    product: str | None = None,
    headers: dict[str, str] = CHINESE,
):
    """Posts the form as the page offers it: the incident itself, or a product chosen
    among its products (or written, on the form without an incident)."""
    page = client.get(form_query(incident), headers=headers)
    assert page.status_code == 200, page.text
    data = {"csrf_token": CSRF.search(page.text).group(1), "address": address}
    if incident is not None:
        data |= {"incident": incident, "topic": f"product:{product}" if product else "incident"}
    else:
        data |= {"topic": "product", "product": product or ""}
    return client.post(
        "/status/subscriptions/new", data=data, headers={**same_site(client), **headers}
    )


def confirm(client: TestClient, path: str, headers: dict[str, str] = CHINESE):
    page = client.get(path, headers=headers)
    assert page.status_code == 200, page.text
    return client.post(path, headers={**same_site(client), **headers})


def publish(
    session: Session, incident_id: int, spokesperson: User, approver: User, text: dict[str, str]
) -> Statement:
    statement = statement_flows.draft(
        session,
        incident_id=incident_id,
        data=StatementDraft.model_validate(
            {
                "stage": "recall_announced",
                "title": {"zh-CN": "PX-200 电暖器召回", "en": "PX-200 heater recall"},
                "text": text,
                "advice": {"zh-CN": "请停止使用。", "en": "Stop using it."},
            }
        ),
        actor=spokesperson,
    )
    statement_flows.approve(
        session, incident_id=incident_id, statement_id=statement.id, actor=approver
    )
    statement_flows.publish(
        session, incident_id=incident_id, statement_id=statement.id, actor=spokesperson
    )
    session.flush()
    return statement
