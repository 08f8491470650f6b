from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.tickets import intake, jobs, lifecycle
from incident_cmd.tickets.models import SlaTimer, Ticket
from incident_cmd.tickets.schemas import TicketAction, TicketCreate
from incident_cmd.timeline import service as timeline


@dataclass
class Queue:
    """The demo organisation's complaint queue, on the test's session."""

    session: Session
    registry: object
    phones: int = 0

    def take_in(self, description: str = "电饭煲不工作了", **fields) -> Ticket:
        if "phone" not in fields and "email" not in fields:
            self.phones += 1
            fields["phone"] = f"+86139{self.phones:08d}"
        fields.setdefault("channel", "phone")
        ticket = intake.take_in(
            self.session,
            data=TicketCreate(description=description, **fields),
            registry=self.registry,
            actor=self.user("agent.sun"),
        )
        self.session.flush()
        return ticket

    def user(self, username: str) -> User:
        return auth_service.get_user_by_username(self.session, username=username)

    def move(self, ticket: Ticket, status: str, by: str = "agent.sun") -> Ticket:
        return lifecycle.change_status(
            self.session, ticket=ticket, change=TicketAction(status=status), actor=self.user(by)
        )

    def timer(self, ticket: Ticket, kind: str) -> SlaTimer:
        return self.session.exec(
            select(SlaTimer).where(SlaTimer.ticket_id == ticket.id, SlaTimer.kind == kind)
        ).one()

    def sweep(self) -> int:
        handled = jobs.sweep_timers(self.session)
        self.session.flush()
        return handled

    def events(self, ticket: Ticket, prefix: str = "") -> list[str]:
        return [
            event.kind
            for event in timeline.events_for(
                self.session, subject_type="ticket", subject_id=ticket.id
            )
            if event.kind.startswith(prefix)
        ]

    def messages(self, ticket: Ticket) -> list[DirectMessage]:
        return list(
            self.session.exec(
                select(DirectMessage)
                .where(DirectMessage.source == "ticket", DirectMessage.source_id == ticket.id)
                .order_by(DirectMessage.id)
            )
        )


@pytest.fixture
def queue(demo_org, shipped_playbooks) -> Queue:
    return Queue(demo_org, shipped_playbooks)
