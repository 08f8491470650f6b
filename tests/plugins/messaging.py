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
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns import service
from incident_cmd.campaigns.models import Campaign, Delivery
from incident_cmd.campaigns.sending import bulk_sender
from incident_cmd.config import get_settings
from incident_cmd.customers import service as customer_service
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.messaging.direct import direct_sender
from incident_cmd.playbooks.service import PlaybookRegistry
from tests.factories import (
    bearer,
    customers_csv,
    make_playbook_teams,
    make_service_desk,
    make_user,
)
from tests.plugins.twilio import PUBLIC


@dataclass
class World:
    """A committed organisation on the database the settings name: the teams the playbooks
    page, the service desk, a duty manager who declares and a comms person who approves.
    People are kept by username, as each step reads them in a session of its own."""

    registry: PlaybookRegistry
    duty_manager: str
    comms: str

    def user(self, session: Session, username: str) -> User:
        return auth_service.get_user_by_username(session, username=username)

    def add_person(self, role: Role) -> str:
        """The username of a new, committed user with the role."""
        with db.session_scope() as session:
            return make_user(session, role).username

    def sign_in(self, client: TestClient, **roles: Role) -> TestClient:
        """Gives the client ``tokens`` (Authorization headers) and ``usernames`` by label:
        "duty" the duty manager, "comms" the comms person, and a new user per role given."""
        with db.session_scope() as session:
            people = {
                "duty": self.user(session, self.duty_manager),
                "comms": self.user(session, self.comms),
            }
            people |= {label: make_user(session, role) for label, role in roles.items()}
            client.tokens = {label: bearer(session, user) for label, user in people.items()}
            client.usernames = {label: user.username for label, user in people.items()}
        return client

    def import_customers(self, rows) -> None:
        with db.session_scope() as session:
            customer_service.import_csv(session, stream=io.StringIO(customers_csv(rows)))

    def declare_recall(self, batches=("B7",), drill=False) -> int:
        with db.session_scope() as session:
            incident = incident_flows.declare(
                session,
                registry=self.registry,
                actor=self.user(session, self.duty_manager),
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

    def approve_and_start(self, campaign_id: int) -> None:
        with db.session_scope() as session:
            campaign = service.get_campaign(session, campaign_id=campaign_id)
            service.approve(session, campaign=campaign, actor=self.user(session, self.comms))
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
        make_service_desk(session)
        make_playbook_teams(session, *(loaded.playbook for loaded in shipped_playbooks.all()))
        duty_manager = make_user(session, Role.duty_manager, contactable=True)
        comms = make_user(session, Role.comms, contactable=True)
        return World(shipped_playbooks, duty_manager=duty_manager.username, comms=comms.username)


def dispatch() -> int:
    """Runs a fresh dispatcher until nothing is due (inside one event loop)."""

    async def main() -> int:
        dispatcher = bulk_sender(db.get_engine())
        try:
            return await dispatcher.drain()
        finally:
            await dispatcher.close()

    return asyncio.run(main())


def send_direct() -> int:
    """Runs a fresh direct-lane sender (pages, ticket notices, subscriptions) until nothing is
    due (inside one event loop)."""

    async def main() -> int:
        sender = direct_sender(db.get_engine())
        try:
            return await sender.drain()
        finally:
            await sender.close()

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
