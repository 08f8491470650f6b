"""What the pages call the values people see in them: roles, statuses, kinds, channels.

Each label is a catalog message id (``N_`` marks it for ``pybabel extract``); the ``label``
template filter translates it into the page's language."""

from collections.abc import Mapping

from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import CampaignStatus
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import NoticeClass


def N_(message: str) -> str:
    """Marks a message id for extraction; translated where it is shown."""
    return message


ENUM_LABELS: Mapping[type, Mapping[str, str]] = {
    Role: {
        Role.admin: N_("Administrator"),
        Role.duty_manager: N_("Duty manager"),
        Role.responder: N_("Responder"),
        Role.agent: N_("Service agent"),
        Role.comms: N_("Communications"),
        Role.viewer: N_("Viewer"),
    },
    IncidentStatus: {
        IncidentStatus.declared: N_("Declared"),
        IncidentStatus.active: N_("Responding"),
        IncidentStatus.stabilized: N_("Stabilized"),
        IncidentStatus.resolved: N_("Resolved"),
        IncidentStatus.in_review: N_("In review"),
        IncidentStatus.closed: N_("Closed"),
    },
    CampaignStatus: {
        CampaignStatus.draft: N_("Draft"),
        CampaignStatus.approved: N_("Approved"),
        CampaignStatus.scheduled: N_("Scheduled"),
        CampaignStatus.sending: N_("Sending"),
        CampaignStatus.paused: N_("Paused"),
        CampaignStatus.completed: N_("Completed"),
        CampaignStatus.cancelled: N_("Cancelled"),
    },
    ChannelName: {
        ChannelName.sms: N_("SMS"),
        ChannelName.email: N_("Email"),
        ChannelName.voice: N_("Voice call"),
    },
    NoticeClass: {
        NoticeClass.safety: N_("Safety notice"),
        NoticeClass.update: N_("Update"),
    },
}

# Values kept as plain strings in their columns, named by the template: ``label("incident_kind")``.
NAMED_LABELS: Mapping[str, Mapping[str, str]] = {
    "incident_kind": {
        "mass_complaint": N_("Mass complaints"),
        "product_recall": N_("Product recall"),
        "natural_disaster": N_("Natural disaster"),
        "service_outage": N_("Service outage"),
        "complaint_escalation": N_("Complaint escalation"),
    },
}


def label_of(value: str, kind: str | None = None) -> str:
    """The message id for ``value``; a value without one is shown as it is stored, underscores
    as spaces, rather than failing the page."""
    labels = NAMED_LABELS.get(kind, {}) if kind else ENUM_LABELS.get(type(value), {})
    return labels.get(value, value.replace("_", " "))
