import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.demo import seed
from incident_cmd.incidents import service
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.timeline.models import TimelineEvent


def declare_one(engine, registry, title):
    with db.session_scope(engine) as session:
        actor = auth_service.get_user_by_username(session, username="duty")
        data = IncidentDeclare(
            playbook="service-outage", title=title, severity="sev1", scope=Scope()
        )
        return service.declare(session, registry=registry, data=data, actor=actor).number


def test_concurrent_declarations_get_distinct_numbers(fresh_database, shipped_playbooks):
    engine = fresh_database.engine
    with db.session_scope(engine) as session:
        seed(session)
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(index):
        barrier.wait()
        try:
            numbers.append(declare_one(engine, shipped_playbooks, f"outage {index}"))
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
    with db.session_scope(engine) as session:
        seed(session)
    declare_one(engine, shipped_playbooks, "outage")
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
