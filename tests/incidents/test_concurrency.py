import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.incidents import service
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_playbook_teams, make_user


def staff(engine, registry) -> str:
    """The outage playbook's teams and a duty manager, committed; returns the manager's name."""
    with db.session_scope(engine) as session:
        make_playbook_teams(session, registry.get("service-outage").playbook)
        return make_user(session, Role.duty_manager).username


def declare_one(engine, registry, title, duty):
    with db.session_scope(engine) as session:
        actor = auth_service.get_user_by_username(session, username=duty)
        data = IncidentDeclare(
            playbook="service-outage", title=title, severity="sev1", scope=Scope()
        )
        return service.declare(session, registry=registry, data=data, actor=actor).number


def test_concurrent_declarations_get_distinct_numbers(fresh_database, shipped_playbooks):
    engine = fresh_database.engine
    duty = staff(engine, shipped_playbooks)
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(index):
        barrier.wait()
        try:
            numbers.append(declare_one(engine, shipped_playbooks, f"outage {index}", duty))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [f"INC-2026-{n:04d}" for n in range(1, 7)]


def test_two_sweepers_never_handle_the_same_task(fresh_database, shipped_playbooks, frozen_clock):
    if fresh_database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    engine = fresh_database.engine
    declare_one(engine, shipped_playbooks, "outage", staff(engine, shipped_playbooks))
    frozen_clock.advance(timedelta(hours=3))

    first = Session(engine, expire_on_commit=False)
    second = Session(engine, expire_on_commit=False)
    try:
        handled_first = service.mark_overdue_tasks(first)  # holds its row locks
        handled_second = service.mark_overdue_tasks(second)
        first.commit()
        second.commit()
        assert handled_first > 0
        assert handled_second == 0
        assert service.mark_overdue_tasks(second) == 0
    finally:
        first.close()
        second.close()
    with Session(engine) as check:
        count = check.exec(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.kind == "task.overdue")
        ).one()
    assert count == handled_first
