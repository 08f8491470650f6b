"""Drills in a committed organisation (the messaging world): started by its duty manager, the
inject sweep run as a worker runs it (a transaction each time), the commander's page
answered, and the evaluation pages posted to by people signed in; and a small scenario file
that loads."""

import pytest
from sqlmodel import Session, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.drills import flows, jobs
from incident_cmd.drills.models import DrillInject, DrillRun
from incident_cmd.paging import answers
from incident_cmd.paging.models import AnswerRoute, Page, PageTarget
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_user
from tests.plugins.web import ORIGIN, PASSWORD, csrf_token, login

# A scenario that loads: one participant, one objective, one inject a minute in.
SMALL_SCENARIO = """\
key: small
name: {zh-CN: 小演练, en: Small drill}
description: {zh-CN: 说明, en: About}
exercise: tabletop
playbook: product-recall
severity: sev1
title: {zh-CN: 标题, en: Title}
scope: {products: [PX-200], batches: [B-D1]}
page_responders: false
customers: 3
participants:
  - role: commander
objectives:
  - key: ack
    kind: commander_acknowledged
    target_minutes: 5
    description: {zh-CN: 确认, en: Acknowledge}
injects:
  - key: note
    at: 1
    description: {zh-CN: 提示, en: Note}
    expected_action: {zh-CN: 无, en: Nothing}
    action: {type: message, text: {zh-CN: 你好, en: Hello}}
"""


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
            return jobs.fire_due_injects(session)

    def end(self, run_id: int) -> None:
        with db.session_scope() as session:
            flows.end(
                session, run_id=run_id, actor=self.world.user(session, self.world.duty_manager)
            )

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


def acknowledge_commander(incident_id: int) -> None:
    """The commander answers the drill incident's page by its link."""
    with db.session_scope() as session:
        page = session.exec(
            select(Page).where(Page.incident_id == incident_id, Page.role_key == "commander")
        ).one()
        target = session.exec(select(PageTarget).where(PageTarget.page_id == page.id)).first()
        answers.acknowledge(session, target=target, via=AnswerRoute.link)


def person(role: Role) -> str:
    """The username of someone new with ``role`` and the test password, committed."""
    with db.session_scope() as session:
        user = make_user(session, role)
        auth_service.set_password(session, user=user, password=PASSWORD, actor_id=None)
        return user.username


def signed_in(client_factory, username: str):
    client = client_factory()
    login(client, username)
    return client


def duty_client(drills: Drills, client_factory):
    """A client signed in as the world's duty manager, who starts the drills."""
    with db.session_scope() as session:
        duty = drills.world.user(session, drills.world.duty_manager)
        auth_service.set_password(session, user=duty, password=PASSWORD, actor_id=None)
    return signed_in(client_factory, drills.world.duty_manager)


def post(client, path: str, form: str, data: dict[str, str]):
    """Posts ``data`` to ``path`` as the form on the page ``form`` would, following any
    redirect."""
    token = csrf_token(client, form)
    return client.post(path, data={**data, "csrf_token": token}, headers=ORIGIN)
