"""What paging did for one incident, read back for assertions."""

from dataclasses import dataclass

import pytest
from sqlmodel import Session, col, select

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.incidents import flows
from incident_cmd.incidents.models import Incident
from incident_cmd.incidents.schemas import Scope
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.paging import jobs
from incident_cmd.paging.models import Page, PageTarget
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.teams import service as team_service
from incident_cmd.timeline import service as timeline
from tests.factories import make_duty_managers, make_incident


@dataclass
class Paging:
    """Reads what paging did, for one incident."""

    session: Session
    incident: Incident

    def page(self, role: str) -> Page:
        return self.session.exec(
            select(Page)
            .where(Page.incident_id == self.incident.id, Page.role_key == role)
            .order_by(col(Page.id).desc())
        ).first()

    def targets(self, role: str) -> list[PageTarget]:
        return list(
            self.session.exec(
                select(PageTarget)
                .where(PageTarget.page_id == self.page(role).id)
                .order_by(PageTarget.id)
            )
        )

    def reached(self, role: str) -> list[tuple[str, str, int]]:
        """(username, why, round) for everyone the role's page reached, in order."""
        return [
            (self.username(target.user_id), target.reason, target.round + 1)
            for target in self.targets(role)
        ]

    def messages(self, role: str) -> list[tuple[str, str]]:
        """(username, channel) of every message queued for the role's page, in order."""
        target_ids = [target.id for target in self.targets(role)]
        rows = self.session.exec(
            select(DirectMessage)
            .where(col(DirectMessage.source_id).in_(target_ids))
            .order_by(DirectMessage.id)
        ).all()
        return [(self.username(row.user_id), row.channel) for row in rows]

    def username(self, user_id: int) -> str:
        return self.session.get(User, user_id).username

    def declarer(self) -> User:
        """The duty manager who declared the incident."""
        return self.session.get(User, self.incident.declared_by)

    def user(self, username: str) -> User:
        return auth_service.get_user_by_username(self.session, username=username)

    def sweep(self) -> None:
        jobs.run_contact_steps(self.session)
        jobs.escalate_due_pages(self.session)
        self.session.flush()

    def target_of(self, role: str, username: str) -> PageTarget:
        user = self.user(username)
        return next(t for t in reversed(self.targets(role)) if t.user_id == user.id)

    def holder(self, role: str) -> str:
        seats = [
            seat
            for seat in flows.service.current_roster(self.session, incident=self.incident)
            if seat.role_key == role
        ]
        return self.username(seats[0].user_id)

    def timeline(self, prefix: str = "page.") -> list[str]:
        return [
            event.kind
            for event in timeline.events_for(
                self.session, subject_type="incident", subject_id=self.incident.id
            )
            if event.kind.startswith(prefix)
        ]


def declare_recall(
    session: Session, registry: PlaybookRegistry, *, drill: bool = False
) -> Incident:
    """A sev1 recall of batch B7 declared by a duty manager. The teams it pages, and the duty
    managers its pages escalate to, are made where the test did not make them."""
    make_duty_managers(session)
    return make_incident(
        session,
        registry=registry,
        title="PX-200 overheating",
        scope=Scope(batches=["B7"]),
        drill=drill,
    )


def declare(session: Session, registry: PlaybookRegistry, *, drill: bool = False) -> Paging:
    return Paging(session, declare_recall(session, registry, drill=drill))


@pytest.fixture
def paging(session, shipped_playbooks) -> Paging:
    return declare(session, shipped_playbooks)


def on_call(session: Session, team: str, rotation: str | None, now, count: int = 2) -> list[str]:
    people = team_service.responders(
        session, team_key=team, rotation_name=rotation, at=now, count=count
    )
    return [person.username for person in people]
