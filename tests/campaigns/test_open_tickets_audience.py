"""The ``open_tickets`` audience: the customers whose complaints about an incident are still
open, so that a mass complaint's apology and an outage notice reach them and no one else."""

from datetime import timedelta

import pytest
from sqlmodel import select

from incident_cmd.auth.models import Role
from incident_cmd.campaigns import service
from incident_cmd.campaigns.models import Campaign, Delivery
from incident_cmd.campaigns.schemas import Audience, CampaignCreate
from incident_cmd.errors import Invalid
from incident_cmd.incidents.schemas import Scope
from incident_cmd.tickets import lifecycle
from incident_cmd.tickets.schemas import TicketResolve
from tests.factories import make_incident, make_user

PX200_B7 = {"product_model": "PX-200", "batch": "B7"}


def _mass_complaint(session, queue):
    return make_incident(
        session,
        registry=queue.registry,
        playbook="mass-complaint",
        severity="sev2",
        scope=Scope(products=["PX-200"], batches=["B7"]),
    )


def _recipients(session, campaign: Campaign) -> list[str]:
    comms = make_user(session, Role.comms)
    service.approve(session, campaign=campaign, actor=comms)
    service.start_due_campaigns(session)
    session.flush()
    return sorted(
        session.exec(select(Delivery.address).where(Delivery.campaign_id == campaign.id)).all()
    )


def _plan(session, incident, key: str) -> Campaign:
    return session.exec(
        select(Campaign).where(Campaign.incident_id == incident.id, Campaign.plan_key == key)
    ).one()


def test_the_apology_reaches_each_customer_with_an_open_complaint_about_the_incident(
    session, queue
):
    linked = queue.take_in(phone="+8613900000001", **PX200_B7)
    linked_again = queue.take_in(phone="+8613900000001", **PX200_B7)
    answered = queue.take_in(phone="+8613900000002", **PX200_B7)
    in_scope = queue.take_in(phone="+8613900000003", **PX200_B7)
    elsewhere = queue.take_in(phone="+8613900000004", **PX200_B7)
    queue.take_in(phone="+8613900000005", product_model="KX-1", batch="B7")
    queue.take_in(phone="+8613900000006", product_model="PX-200", batch="B9")
    # Complaints taken in before the incident was declared: intake links later ones itself.
    incident = _mass_complaint(session, queue)
    other = make_incident(
        session,
        registry=queue.registry,
        playbook="mass-complaint",
        severity="sev2",
        scope=Scope(products=["PX-200"], batches=["B7"]),
    )
    for ticket in (linked, linked_again, answered):
        ticket.incident_id = incident.id
    elsewhere.incident_id = other.id
    lifecycle.resolve(
        session,
        ticket=answered,
        data=TicketResolve(resolution="换新"),
        actor=queue.user(queue.agent),
    )
    session.flush()
    assert in_scope.incident_id is None

    recipients = _recipients(session, _plan(session, incident, "apology_sms"))

    # One message for two open complaints; none for an answered one, another incident's,
    # another product's or another batch's.
    assert recipients == ["+8613900000001", "+8613900000003"]


def test_an_outage_notice_reaches_open_complaints_in_its_regions(session, queue, frozen_clock):
    incident = make_incident(
        session,
        registry=queue.registry,
        playbook="service-outage",
        severity="sev2",
        scope=Scope(regions=["Guangdong"]),
    )
    queue.take_in(phone="+8613900000011", region="Guangdong")
    queue.take_in(phone="+8613900000012", region="Zhejiang")
    session.flush()
    frozen_clock.advance(timedelta(minutes=30))  # the playbook sends it half an hour in

    assert _recipients(session, _plan(session, incident, "outage_sms")) == ["+8613900000011"]


def test_a_campaign_to_open_complaints_needs_an_incident_or_a_scope(session):
    comms = make_user(session, Role.comms)
    data = CampaignCreate(
        name="n",
        channel="sms",
        template="complaint_apology",
        audience=Audience(rule="open_tickets"),
    )
    with pytest.raises(Invalid) as refused:
        service.create_campaign(session, data=data, actor=comms)
    assert refused.value.field == "audience"
    assert session.exec(select(Campaign)).all() == []
