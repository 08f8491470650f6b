"""Several workers sweeping SLA timers on PostgreSQL: every warning and breach once."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.tickets import jobs
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_ticket, make_user


def test_two_workers_warn_and_breach_each_ticket_once(
    use_database, shipped_playbooks, frozen_clock, database
):
    if database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    with db.session_scope() as session:
        agent = make_user(session, Role.agent)
        for number in range(60):
            make_ticket(
                session,
                registry=shipped_playbooks,
                actor=agent,
                description="插座漏电",
                phone=f"+86139{number:08d}",
            )
    handled: list[int] = []
    errors: list[BaseException] = []

    def worker(start: threading.Barrier) -> None:
        try:
            start.wait()
            while True:
                with db.session_scope() as session:
                    # Small claims, so that both workers surely take part.
                    count = jobs.sweep_timers(session, limit=5)
                handled.append(count)
                if not count:
                    return
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    for minutes in (25, 6, 30):  # at 25, 31 and 61 minutes: warning, breach, second breach
        frozen_clock.advance(timedelta(minutes=minutes))
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=worker, args=(barrier,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    with db.session_scope() as session:
        kinds = Counter(
            (event.subject_id, event.kind)
            for event in session.exec(select(TimelineEvent).where(TimelineEvent.kind.like("sla.%")))
        )
    assert len(kinds) == 60 * 3
    assert set(kinds.values()) == {1}
