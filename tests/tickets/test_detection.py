"""Mass-complaint detection: one below the threshold raises nothing, the threshold raises one
signal, more tickets do not raise a second; declaring from a signal links its tickets."""

from datetime import timedelta

import pytest
from sqlmodel import select

from incident_cmd.errors import Conflict
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.tickets import detection
from incident_cmd.tickets.models import Signal, Ticket
from tests.factories import SERVICE_DESK, bearer, make_playbook_teams

QUALITY = "PX-200 冒烟"  # product quality, urgent: the recall playbook's trigger counts it


def complaints(queue, count: int, batch: str = "B9", **fields) -> list:
    return [
        queue.take_in(QUALITY, product_model="PX-200", batch=batch, **fields) for _ in range(count)
    ]


def signals(queue) -> list[Signal]:
    return list(queue.session.exec(select(Signal).order_by(Signal.id)))


def test_one_below_the_threshold_raises_nothing(queue):
    complaints(queue, 19)  # product-recall: 20 in 24 hours
    assert signals(queue) == []


def test_the_threshold_raises_one_signal_and_more_tickets_no_second(queue):
    tickets = complaints(queue, 20)
    [signal] = signals(queue)
    assert (signal.playbook_key, signal.trigger_key, signal.count) == (
        "product-recall",
        "batch_cluster",
        20,
    )
    assert signal.scope == {"products": ["PX-200"], "batches": ["B9"]}
    assert (signal.first_ticket_id, signal.last_ticket_id) == (tickets[0].id, tickets[-1].id)
    complaints(queue, 5)
    assert len(signals(queue)) == 1
    complaints(queue, 20, batch="B10")  # another batch is another cluster
    assert len(signals(queue)) == 2


def history(queue, customer: int, moment, count: int) -> None:
    """Earlier complaints about the batch, as they would stand in the table."""
    for number in range(count):
        queue.session.add(
            Ticket(
                number=f"OLD-{moment:%m%d%H}-{number}",
                customer_id=customer,
                contact="+8613900000000",
                channel="phone",
                category="product_quality",
                priority="urgent",
                product_model="PX-200",
                batch="B9",
                description="old",
                requested="repair",
                status="closed",
                team_key=SERVICE_DESK,
                created_at=moment,
            )
        )
    queue.session.flush()


def test_a_cluster_within_its_usual_level_raises_nothing(queue, frozen_clock):
    # Seven complaints every six hours for a week: 28 a day, 7 a quarter-day.
    now = frozen_clock()
    customer = queue.take_in("first contact").customer_id
    for slot in range(1, 29):
        history(queue, customer, now - timedelta(hours=6 * slot + 1), 7)
    complaints(queue, 20)  # less than 3 x 7 in six hours, less than 3 x 28 in a day
    assert signals(queue) == []
    complaints(queue, 1)  # 21 = 3 x 7: the six-hour trigger (mass complaint) fires
    [signal] = signals(queue)
    assert signal.playbook_key == "mass-complaint" and signal.baseline == 7


def test_old_tickets_fall_out_of_the_window(queue, frozen_clock):
    complaints(queue, 10)
    frozen_clock.advance(timedelta(hours=25))
    complaints(queue, 10)
    assert signals(queue) == []


def test_declaring_from_a_signal_links_the_cluster_and_new_tickets(
    client, queue, shipped_playbooks
):
    make_playbook_teams(queue.session, shipped_playbooks.get("product-recall").playbook)
    complaints(queue, 20)
    [signal] = signals(queue)
    duty = bearer(queue.session, queue.user(queue.desk.duty_manager))
    shown = client.get(f"/api/v1/signals/{signal.id}", headers=duty).json()
    assert len(shown["tickets"]) == 20 and sum(shown["counts_by_hour"].values()) == 20
    response = client.post(
        f"/api/v1/signals/{signal.id}/declare", json={"severity": "sev1"}, headers=duty
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "declared" and body["incident_id"]
    assert {ticket["incident_id"] for ticket in body["tickets"]} == {body["incident_id"]}
    incident = client.get(f"/api/v1/incidents/{body['incident_id']}", headers=duty).json()
    assert incident["playbook"] == "product-recall"
    assert incident["scope"]["batches"] == ["B9"]
    # While the incident is active, a new ticket in its scope joins it, and the customer hears.
    later = queue.take_in("还是冒烟", product_model="PX-200", batch="B9")
    assert later.incident_id == body["incident_id"]
    ack = queue.session.exec(
        select(DirectMessage).where(DirectMessage.key == f"ticket-{later.id}-ack")
    ).one()
    assert f"/status/{incident['number']}" in ack.body
    again = client.post(
        f"/api/v1/signals/{signal.id}/declare", json={"severity": "sev1"}, headers=duty
    )
    assert again.status_code == 409


def test_dismissing_needs_a_reason_and_lets_a_new_cluster_signal_later(client, queue):
    complaints(queue, 20)
    [signal] = signals(queue)
    duty = bearer(queue.session, queue.user(queue.desk.duty_manager))
    refused = client.post(f"/api/v1/signals/{signal.id}/dismiss", json={}, headers=duty)
    assert refused.status_code == 422 and "reason" in refused.json()["detail"]
    response = client.post(
        f"/api/v1/signals/{signal.id}/dismiss",
        json={"reason": "one installer's error, already handled"},
        headers=duty,
    )
    assert response.json()["status"] == "dismissed"
    complaints(queue, 1)  # the window still holds 21: a new signal for the same cluster
    assert [s.status for s in signals(queue)] == ["dismissed", "open"]
    with pytest.raises(Conflict):
        detection.dismiss(
            queue.session,
            signal=signals(queue)[0],
            reason="again",
            actor=queue.user(queue.desk.duty_manager),
        )


def test_agents_cannot_see_or_decide_signals(client, queue):
    complaints(queue, 20)
    agent = bearer(queue.session, queue.user(queue.agent))
    assert client.get("/api/v1/signals", headers=agent).status_code == 403
