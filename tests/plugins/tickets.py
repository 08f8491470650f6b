"""The complaint queue of a service desk made for the test, worked on the test's session."""

from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import intake, jobs, lifecycle
from incident_cmd.tickets.models import SlaTimer, Ticket
from incident_cmd.tickets.schemas import TicketAction, TicketCreate
from incident_cmd.timeline import service as timeline
from tests.factories import ServiceDesk, make_service_desk

# Enough agents that spreading work by load or by turns shows in a handful of tickets.
DESK_AGENTS = 4


@dataclass
class Queue:
    """The desk's complaint queue. Its first agent takes complaints in and works them."""

    session: Session
    registry: PlaybookRegistry
    desk: ServiceDesk
    phones: int = 0

    @property
    def agent(self) -> str:
        return self.desk.agents[0]

    def take_in(self, description: str = "电饭煲不工作了", **fields) -> Ticket:
        if "phone" not in fields and "email" not in fields:
            self.phones += 1
            fields["phone"] = f"+86139{self.phones:08d}"
        fields.setdefault("channel", "phone")
        ticket = intake.take_in(
            self.session,
            data=TicketCreate(description=description, **fields),
            registry=self.registry,
            actor=self.user(self.agent),
        )
        self.session.flush()
        return ticket

    def user(self, username: str) -> User:
        return auth_service.get_user_by_username(self.session, username=username)

    def move(self, ticket: Ticket, status: str) -> Ticket:
        return lifecycle.change_status(
            self.session,
            ticket=ticket,
            change=TicketAction(status=status),
            actor=self.user(self.agent),
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
def desk(session) -> ServiceDesk:
    return make_service_desk(session, agents=DESK_AGENTS)


@pytest.fixture
def queue(session, shipped_playbooks, desk) -> Queue:
    return Queue(session, shipped_playbooks, desk)
