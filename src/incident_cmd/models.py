"""Imports every table model, so that metadata (Alembic, tests) sees the whole schema."""

from incident_cmd.accountability.models import Appeal, Finding, Letter
from incident_cmd.auth.models import ApiToken, User
from incident_cmd.campaigns.models import Campaign, Delivery, InboundMessage
from incident_cmd.customers.models import Customer, Purchase
from incident_cmd.drills.evaluation_models import (
    DrillEvaluator,
    DrillRating,
    HotWashNote,
    Improvement,
)
from incident_cmd.drills.models import DrillInject, DrillRun
from incident_cmd.incidents.models import Incident, IncidentTask, RosterAssignment
from incident_cmd.integrations.twilio.inbox import InboxSms
from incident_cmd.messaging.models import DirectMessage, SinkMessage, Suppression
from incident_cmd.numbering import sequence_counters
from incident_cmd.paging.models import Page, PageTarget
from incident_cmd.playbooks.models import PlaybookVersion
from incident_cmd.postmortems.models import DrillRequest, FollowUp, PlanRevision, Review
from incident_cmd.sitreps.models import SituationReport
from incident_cmd.statements.models import Statement
from incident_cmd.subscriptions.models import Subscription, SubscriptionRequest
from incident_cmd.teams.models import Rotation, RotationMember, RotationOverride, Team, TeamMember
from incident_cmd.tickets.models import CalendarRun, Signal, SlaTimer, Ticket, TicketTask
from incident_cmd.timeline.models import TimelineEvent, TimelineStar

__all__ = [
    "ApiToken",
    "Appeal",
    "CalendarRun",
    "Campaign",
    "Customer",
    "Delivery",
    "DirectMessage",
    "DrillEvaluator",
    "DrillInject",
    "DrillRating",
    "DrillRequest",
    "DrillRun",
    "Finding",
    "FollowUp",
    "HotWashNote",
    "Improvement",
    "InboundMessage",
    "InboxSms",
    "Incident",
    "IncidentTask",
    "Letter",
    "Page",
    "PageTarget",
    "PlanRevision",
    "PlaybookVersion",
    "Purchase",
    "Review",
    "RosterAssignment",
    "Rotation",
    "RotationMember",
    "RotationOverride",
    "Signal",
    "SinkMessage",
    "SituationReport",
    "SlaTimer",
    "Statement",
    "Subscription",
    "SubscriptionRequest",
    "Suppression",
    "Team",
    "TeamMember",
    "Ticket",
    "TicketTask",
    "TimelineEvent",
    "TimelineStar",
    "User",
    "sequence_counters",
]
