"""How the complaint pages show a ticket: names of its values in the reader's language, its
SLA countdown worked out from the project clock, and contact details as the reader's role may
see them (the forms' general rules are in ``web.forms``)."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth.models import Role, User, reads_contact_details
from incident_cmd.customers.masking import mask_contact, mask_text, masked_identity
from incident_cmd.customers.models import Customer
from incident_cmd.tickets import access
from incident_cmd.tickets.models import (
    AppealOutcome,
    AppealStatus,
    BreachState,
    IntakeChannel,
    SlaTimer,
    Ticket,
    TicketStatus,
    TimerKind,
)
from incident_cmd.web.forms import Gettext
from incident_cmd.web.labels import N_

# Who works the complaint queue, as the API's ``Agent`` dependency admits them.
WORKERS = (Role.admin, Role.agent, Role.responder, Role.duty_manager)

TICKET_LABELS: Mapping[str, Mapping[str, str]] = {
    "status": {
        TicketStatus.new: N_("New"),
        TicketStatus.acknowledged: N_("Acknowledged"),
        TicketStatus.in_progress: N_("In progress"),
        TicketStatus.waiting_customer: N_("Waiting on customer"),
        TicketStatus.resolved: N_("Resolved"),
        TicketStatus.closed: N_("Closed"),
    },
    "category": {
        "product_quality": N_("Product quality"),
        "technical": N_("Technical problem"),
        "logistics": N_("Logistics"),
        "usage": N_("Usage question"),
        "service_attitude": N_("Service attitude"),
        "after_sales": N_("After-sales service"),
        "other": N_("Other"),
    },
    "priority": {
        "urgent": N_("Urgent"),
        "important": N_("Important"),
        "routine": N_("Routine"),
        "consultation": N_("Consultation"),
    },
    "breach_state": {
        BreachState.ok: N_("On time"),
        BreachState.warning: N_("Near deadline"),
        BreachState.breached: N_("Overdue"),
    },
    "channel": {
        IntakeChannel.phone: N_("Phone"),
        IntakeChannel.email: N_("Email"),
        IntakeChannel.web: N_("Website"),
        IntakeChannel.sms: N_("SMS"),
        IntakeChannel.social: N_("Social media"),
        IntakeChannel.walk_in: N_("In person"),
    },
    "requested": {
        "return": N_("Return"),
        "exchange": N_("Exchange"),
        "repair": N_("Repair"),
        "refund": N_("Refund"),
        "compensation": N_("Compensation"),
        "information": N_("Information only"),
    },
    "timer": {
        TimerKind.response: N_("First response"),
        TimerKind.resolution: N_("Resolution"),
        TimerKind.handling_plan: N_("Handling plan"),
        TimerKind.close: N_("Closing"),
        TimerKind.verification: N_("Initial verification"),
        TimerKind.appeal_response: N_("Appeal: respond by"),
        TimerKind.appeal_answer: N_("Appeal: answer by"),
    },
    "appeal_status": {
        AppealStatus.registered: N_("Registered, no handler yet"),
        AppealStatus.investigating: N_("Being investigated"),
        AppealStatus.answered: N_("Answered"),
    },
    "appeal_outcome": {
        AppealOutcome.upheld: N_("Upheld"),
        AppealOutcome.partly_upheld: N_("Partly upheld"),
        AppealOutcome.rejected: N_("Rejected"),
    },
    "event": {
        "ticket.created": N_("Taken in"),
        "ticket.assigned": N_("Assigned"),
        "ticket.status": N_("Status changed"),
        "ticket.plan": N_("Handling plan"),
        "ticket.verified": N_("Verified"),
        "ticket.timetable": N_("Planned date told to the customer"),
        "ticket.resolved": N_("Resolved"),
        "ticket.reopened": N_("Reopened"),
        "ticket.appealed": N_("Appealed"),
        "ticket.appeal_assigned": N_("Appeal handler named"),
        "ticket.appeal_note": N_("Appeal investigation"),
        "ticket.appeal_answered": N_("Appeal answered"),
        "ticket.survey": N_("Satisfaction"),
        "ticket.callback": N_("Callback"),
        "ticket.task_done": N_("Task done"),
        "ticket.task_overdue": N_("Task overdue"),
        "ticket.linked": N_("Linked to incident"),
        "ticket.customer_message": N_("Customer message"),
        "message.sent": N_("Message sent"),
        "message.failed": N_("Message failed"),
        "sla.warned": N_("Deadline near"),
        "sla.breached": N_("Deadline missed"),
        "sla.breached_twice": N_("Deadline missed twice"),
    },
}


def ticket_label(value: str | None, kind: str) -> str:
    """The message id naming ``value``; a value without one shows as stored."""
    if value is None:
        return ""
    return TICKET_LABELS[kind].get(value, value.replace("_", " "))


# --- the SLA countdown ----------------------------------------------------------------------

MINUTES = N_("%(minutes)s min")
HOURS = N_("%(hours)s h %(minutes)s min")
DAYS = N_("%(days)s d %(hours)s h")
DUE_IN = N_("%(target)s due in %(time)s")
OVERDUE_BY = N_("%(target)s overdue by %(time)s")
PAUSED = N_("Clock stopped: waiting on the customer")
ALL_MET = N_("All targets met")


@dataclass(frozen=True)
class Countdown:
    """The ticket's most pressing target: ``state`` is ok, warning, breached, paused or met
    (the CSS class and what the colour says in words)."""

    state: str
    text: str
    due_at: datetime | None


def _span(seconds: float, gettext: Gettext) -> str:
    minutes = max(1, math.ceil(abs(seconds) / 60))
    days, hours, rest = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return gettext(DAYS) % {"days": days, "hours": hours}
    if hours:
        return gettext(HOURS) % {"hours": hours, "minutes": rest}
    return gettext(MINUTES) % {"minutes": rest}


def countdown(
    timers: Iterable[SlaTimer], gettext: Gettext, now: datetime | None = None
) -> Countdown:
    now = now or clock.now()
    open_timers = [timer for timer in timers if timer.met_at is None]
    running = [timer for timer in open_timers if timer.paused_at is None]
    if not open_timers:
        return Countdown("met", gettext(ALL_MET), None)
    if not running:
        return Countdown("paused", gettext(PAUSED), None)
    timer = min(running, key=lambda timer: timer.due_at)
    target = gettext(ticket_label(timer.kind, "timer"))
    left = (timer.due_at - now).total_seconds()
    if left <= 0:
        text = gettext(OVERDUE_BY) % {"target": target, "time": _span(left, gettext)}
        return Countdown("breached", text, timer.due_at)
    state = "warning" if now >= timer.warn_at else "ok"
    text = gettext(DUE_IN) % {"target": target, "time": _span(left, gettext)}
    return Countdown(state, text, timer.due_at)


# --- who sees what --------------------------------------------------------------------------


def masks_contacts(user: User) -> bool:
    """Contact details as the API gives them: masked for those with no need of them."""
    return not reads_contact_details(user)


@dataclass(frozen=True)
class CustomerShown:
    name: str
    external_ref: str
    phone: str | None
    email: str | None
    region: str | None


def customer_shown(customer: Customer | None, reader: User) -> CustomerShown | None:
    if customer is None:
        return None
    shown = CustomerShown(
        customer.name, customer.external_ref, customer.phone, customer.email, customer.region
    )
    if masks_contacts(reader):
        return replace(shown, **masked_identity(customer))
    return shown


def contact_shown(ticket: Ticket, reader: User) -> str:
    return mask_contact(ticket.contact) if masks_contacts(reader) else ticket.contact


def text_shown(text: str | None, reader: User) -> str | None:
    return mask_text(text) if text and masks_contacts(reader) else text


def may_work(session: Session, *, ticket: Ticket, user: User) -> bool:
    return user.role in WORKERS and access.may_work_on(session, ticket=ticket, actor=user)
