"""Complaint and incident numbers are unique without a lock held until commit (the seeds ask
for unique numbers, not gap-less ones); counters that follow the transaction keep their row."""

import pytest
from sqlalchemy import text
from sqlmodel import Session

from incident_cmd import numbering


def test_numbers_keep_their_visible_format_and_never_repeat(session):
    taken = [numbering.next_number(session, prefix="TKT", year=2026, width=6) for _ in range(3)]
    assert taken == ["TKT-2026-000001", "TKT-2026-000002", "TKT-2026-000003"]
    assert numbering.next_number(session, prefix="TKT", year=2027, width=6) == "TKT-2027-000001"


def test_a_new_series_continues_where_the_counter_row_left_it(session):
    session.execute(numbering.sequence_counters.insert().values(name="TKT-2031", value=41))
    assert numbering.next_number(session, prefix="TKT", year=2031, width=6) == "TKT-2031-000042"


def test_a_number_taken_waits_for_no_other_open_intake(fresh_database):
    if fresh_database.backend != "postgres":
        pytest.skip("SQLite has one writer at a time: intakes take turns by design")
    engine = fresh_database.engine
    with Session(engine) as first, Session(engine) as second:
        assert numbering.next_number(first, prefix="TKT", year=2026) == "TKT-2026-0001"
        first.commit()
        assert numbering.next_number(first, prefix="TKT", year=2026) == "TKT-2026-0002"
        # The first intake is still open. Were its number a locked row, this would wait.
        second.execute(text("SET LOCAL lock_timeout = '500ms'"))
        assert numbering.next_number(second, prefix="TKT", year=2026) == "TKT-2026-0003"
        second.commit()
        # Rolled back: a gap, never a repeat.
        first.rollback()
        assert numbering.next_number(first, prefix="TKT", year=2026) == "TKT-2026-0004"
        first.commit()


def test_a_transactional_counter_is_rolled_back_with_its_transaction(fresh_database):
    engine = fresh_database.engine
    with Session(engine) as first:
        assert numbering.next_value(first, "statement-version:1") == 1
        first.rollback()
        assert numbering.next_value(first, "statement-version:1") == 1
        first.commit()
