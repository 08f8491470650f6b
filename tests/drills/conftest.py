"""A committed organisation (the messaging world) and drills started in it by its duty
manager; the sweep run as a worker runs it, a transaction each time."""

import pytest
from sqlmodel import Session, select

from incident_cmd import db
from incident_cmd.drills import flows
from incident_cmd.drills.models import DrillInject, DrillRun
from incident_cmd.timeline.models import TimelineEvent


class Drills:
    def __init__(self, world) -> None:
        self.world = world

    def start(self, scenario: str) -> int:
        with db.session_scope() as session:
            actor = self.world.user(session, self.world.duty_manager)
            return flows.start(
                session, playbooks=self.world.registry, scenario_key=scenario, actor=actor
            ).id

    def sweep(self) -> int:
        with db.session_scope() as session:
            return flows.fire_due_injects(session)

    def run(self, run_id: int) -> DrillRun:
        with db.session_scope() as session:
            return session.get_one(DrillRun, run_id)

    def injects(self, run_id: int) -> dict[str, DrillInject]:
        with db.session_scope() as session:
            rows = session.exec(select(DrillInject).where(DrillInject.run_id == run_id)).all()
            return {row.key: row for row in rows}

    def kinds(self, run_id: int, prefix: str = "") -> list[str]:
        incident_id = self.run(run_id).incident_id
        with Session(db.get_engine()) as session:
            return [
                event.kind
                for event in session.exec(
                    select(TimelineEvent)
                    .where(
                        TimelineEvent.subject_type == "incident",
                        TimelineEvent.subject_id == incident_id,
                    )
                    .order_by(TimelineEvent.id)
                )
                if event.kind.startswith(prefix)
            ]


@pytest.fixture
def drills(world) -> Drills:
    return Drills(world)
