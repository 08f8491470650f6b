import asyncio
import email
import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select
from twilio.request_validator import RequestValidator

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.config import get_settings
from incident_cmd.customers import service as customer_service
from incident_cmd.demo import seed
from incident_cmd.devtools.fake_twilio import FakeTwilio, RunningFake
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.notify import service
from incident_cmd.notify.dispatcher import Dispatcher
from incident_cmd.notify.models import Campaign, Delivery

ACCOUNT = "AC" + "1" * 32
TOKEN = "test-auth-token"
SENDER = "+15005550006"
PUBLIC = "https://incident.example.com"


@pytest.fixture
def fake() -> Iterator[RunningFake]:
    with RunningFake(FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN, callbacks=False)) as running:
        yield running


@pytest.fixture
def twilio(monkeypatch, fake) -> RunningFake:
    for name, value in {
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_SENDER": SENDER,
        "TWILIO_API_BASE": fake.url,
        "PUBLIC_BASE_URL": PUBLIC,
        "SEND_RATE_PER_SECOND": "0",
    }.items():
        monkeypatch.setenv(f"INCIDENT_CMD_{name}", value)
    get_settings.cache_clear()
    return fake


def customers_csv(rows: list[tuple[str, str, str, str, str]]) -> str:
    """rows: (ref, name, phone, timezone, batch)"""
    lines = ["external_ref,name,phone,email,locale,timezone,region,product_model,batch"]
    for ref, name, phone, zone, batch in rows:
        locale = "zh-CN" if zone == "Asia/Shanghai" else "en"
        lines.append(
            f"{ref},{name},{phone},{ref.lower()}@example.com,{locale},{zone},R1,PX-200,{batch}"
        )
    return "\n".join(lines) + "\n"


def shanghai_customers(count: int, batch: str = "B7", start: int = 0):
    return [
        (f"CN{start + n:05d}", f"客户{start + n}", f"+86139{start + n:08d}", "Asia/Shanghai", batch)
        for n in range(count)
    ]


def new_york_customers(count: int, batch: str = "B7", start: int = 0):
    return [
        (
            f"US{start + n:05d}",
            f"Customer {start + n}",
            f"+1212555{start + n:04d}",
            "America/New_York",
            batch,
        )
        for n in range(count)
    ]


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
        dispatcher = Dispatcher(db.get_engine())
        try:
            return await dispatcher.drain()
        finally:
            await dispatcher.close()

    return asyncio.run(main())


def signed(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


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
