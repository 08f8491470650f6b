"""A committed organisation with customers on the database the settings name, the dispatcher
run until nothing is due, and an SMTP server that keeps what it is sent."""

import asyncio
import email
import io
import socket
from dataclasses import dataclass
from email import policy

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.config import get_settings
from incident_cmd.customers import service as customer_service
from incident_cmd.demo import seed
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.notify import service
from incident_cmd.notify.models import Campaign, Delivery
from incident_cmd.notify.sending import bulk_sender
from tests.factories import customers_csv
from tests.plugins.twilio import PUBLIC


@dataclass
class World:
    """A committed demo organisation with customers, on the database the settings name."""

    registry: object

    def import_customers(self, rows) -> None:
        with db.session_scope() as session:
            customer_service.import_csv(session, stream=io.StringIO(customers_csv(rows)))

    def declare_recall(self, batches=("B7",), drill=False) -> int:
        with db.session_scope() as session:
            duty = auth_service.get_user_by_username(session, username="duty")
            incident = incident_service.declare(
                session,
                registry=self.registry,
                actor=duty,
                data=IncidentDeclare(
                    playbook="product-recall",
                    title="PX-200 overheating",
                    severity="sev1",
                    scope=Scope(batches=list(batches)),
                    drill=drill,
                ),
            )
            return incident.id

    def campaign_for(self, incident_id: int, plan: str) -> int:
        with db.session_scope() as session:
            return session.exec(
                select(Campaign.id).where(
                    Campaign.incident_id == incident_id, Campaign.plan_key == plan
                )
            ).one()

    def approve_and_start(self, campaign_id: int, approver: str = "comms.ma") -> None:
        with db.session_scope() as session:
            campaign = service.get_campaign(session, campaign_id=campaign_id)
            user = auth_service.get_user_by_username(session, username=approver)
            service.approve(session, campaign=campaign, actor=user)
        with db.session_scope() as session:
            service.start_due_campaigns(session)

    def deliveries(self, campaign_id: int) -> list[Delivery]:
        with db.session_scope() as session:
            return list(
                session.exec(
                    select(Delivery)
                    .where(Delivery.campaign_id == campaign_id)
                    .order_by(Delivery.id)
                )
            )

    def counts(self, campaign_id: int):
        with db.session_scope() as session:
            campaign = service.get_campaign(session, campaign_id=campaign_id)
            return service.campaign_counts(session, campaign=campaign)

    def finish(self) -> None:
        with db.session_scope() as session:
            service.finish_campaigns(session)

    def campaign(self, campaign_id: int) -> Campaign:
        with db.session_scope() as session:
            return service.get_campaign(session, campaign_id=campaign_id)


@pytest.fixture
def world(use_database, shipped_playbooks) -> World:
    with db.session_scope() as session:
        seed(session)
    return World(shipped_playbooks)


def dispatch() -> int:
    """Runs a fresh dispatcher until nothing is due (inside one event loop)."""

    async def main() -> int:
        dispatcher = bulk_sender(db.get_engine())
        try:
            return await dispatcher.drain()
        finally:
            await dispatcher.close()

    return asyncio.run(main())


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, parsed))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setenv("INCIDENT_CMD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("INCIDENT_CMD_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("INCIDENT_CMD_SMTP_SENDER", "recall@demo.example.com")
    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", PUBLIC)
    get_settings.cache_clear()
    yield collector
    controller.stop()
