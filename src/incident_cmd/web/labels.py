"""What the pages call the values people see in them: roles, statuses, kinds, channels.

Each label is a catalog message id (``N_`` marks it for ``pybabel extract``); the ``label``
template filter translates it into the page's language."""

from collections.abc import Callable, Mapping, Sequence

from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import CampaignStatus
from incident_cmd.i18n import Locale
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import NoticeClass
from incident_cmd.paging.models import AnswerRoute
from incident_cmd.playbooks.schema import Playbook


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

# Values kept as plain strings in their columns, named by the template: ``label("team")``.
NAMED_LABELS: Mapping[str, Mapping[str, str]] = {
    # Drills (drills.schema, drills.models).
    "exercise": {
        "tabletop": N_("Tabletop exercise"),
        "functional": N_("Functional exercise"),
        "full_scale": N_("Full-scale exercise"),
    },
    "drill_state": {"running": N_("Running"), "paused": N_("Paused"), "ended": N_("Ended")},
    "inject": {
        "complaints": N_("Complaint wave"),
        "sms_replies": N_("SMS replies"),
        "inquiry": N_("Inquiry"),
        "facts_change": N_("Change of facts"),
        "unresponsive": N_("Unanswered pages"),
        "message": N_("Message to participants"),
    },
    # The seed organisation's teams (a ticket keeps its team by key).
    "team": {
        "executives": N_("Emergency headquarters"),
        "customer-service": N_("Customer service"),
        "technical-support": N_("Technical support"),
        "quality": N_("Quality"),
        "communications": N_("Communications department"),
        "logistics": N_("HR and logistics"),
        "finance": N_("Finance"),
        "duty-managers": N_("Duty managers"),
    },
    # Regions as the customer data spells them: China's provinces in pinyin.
    "region": {
        "Anhui": N_("Anhui"),
        "Beijing": N_("Beijing"),
        "Chongqing": N_("Chongqing"),
        "Fujian": N_("Fujian"),
        "Gansu": N_("Gansu"),
        "Guangdong": N_("Guangdong"),
        "Guangxi": N_("Guangxi"),
        "Guizhou": N_("Guizhou"),
        "Hainan": N_("Hainan"),
        "Hebei": N_("Hebei"),
        "Heilongjiang": N_("Heilongjiang"),
        "Henan": N_("Henan"),
        "Hong Kong": N_("Hong Kong"),
        "Hubei": N_("Hubei"),
        "Hunan": N_("Hunan"),
        "Inner Mongolia": N_("Inner Mongolia"),
        "Jiangsu": N_("Jiangsu"),
        "Jiangxi": N_("Jiangxi"),
        "Jilin": N_("Jilin"),
        "Liaoning": N_("Liaoning"),
        "Macau": N_("Macau"),
        "Ningxia": N_("Ningxia"),
        "Qinghai": N_("Qinghai"),
        "Shaanxi": N_("Shaanxi"),
        "Shandong": N_("Shandong"),
        "Shanghai": N_("Shanghai"),
        "Shanxi": N_("Shanxi"),
        "Sichuan": N_("Sichuan"),
        "Taiwan": N_("Taiwan"),
        "Tianjin": N_("Tianjin"),
        "Tibet": N_("Tibet"),
        "Xinjiang": N_("Xinjiang"),
        "Yunnan": N_("Yunnan"),
        "Zhejiang": N_("Zhejiang"),
        "New York": N_("New York"),
    },
    # The levels a page climbs (playbooks' escalation chain).
    "page_level": {
        "seat_holder": N_("seat holder"),
        "next_in_rotation": N_("next on the rotation"),
        "team_lead": N_("team lead"),
        "duty_manager": N_("duty manager"),
    },
    # How a page was answered.
    "answer": {
        AnswerRoute.api: N_("the API"),
        AnswerRoute.link: N_("the link in the page"),
        AnswerRoute.sms: N_("SMS reply"),
        AnswerRoute.voice: N_("phone keypad"),
    },
    # Why paging moved on, as the paging code words it.
    "page_reason": {
        "paged": N_("paged"),
        "no acknowledgement in time": N_("no acknowledgement in time"),
        "incident stood down": N_("incident stood down"),
        "paged again": N_("paged again"),
    },
    # Who calls a dissatisfied customer back, and the ticket's task for it.
    "callback": {
        "agent": N_("Agent"),
        "supervisor": N_("Supervisor"),
        "senior_manager": N_("Senior manager"),
    },
    "ticket_task": {
        "callback_agent": N_("Agent callback"),
        "callback_supervisor": N_("Supervisor callback"),
        "callback_senior_manager": N_("Senior manager callback"),
    },
}

# The kinds of incident the shipped playbooks declare. A kind that a new playbook brings is
# named by that playbook (``kind_name``).
KIND_NAMES: Mapping[str, str] = {
    "mass_complaint": N_("Mass complaints"),
    "product_recall": N_("Product recall"),
    "natural_disaster": N_("Natural disaster"),
    "service_outage": N_("Service outage"),
    "complaint_escalation": N_("Complaint escalation"),
}

# The notices the shipped playbooks draft, by notification plan key (playbooks/*.yaml).
NOTICE_NAMES: Mapping[str, str] = {
    "recall_sms": N_("Recall SMS notice"),
    "recall_email": N_("Recall email notice"),
    "recall_reminder": N_("Recall reminder SMS"),
    "apology_sms": N_("Apology SMS"),
    "apology_email": N_("Apology email"),
    "disruption_sms": N_("Service disruption SMS"),
    "disruption_email": N_("Service disruption email"),
    "outage_sms": N_("Outage SMS notice"),
    "callback_sms": N_("Callback SMS"),
}


def label_of(value: str, kind: str | None = None) -> str:
    """The message id for ``value``; a value without one is shown as it is stored, underscores
    as spaces, rather than failing the page."""
    labels = NAMED_LABELS.get(kind, {}) if kind else ENUM_LABELS.get(type(value), {})
    return labels.get(value, value.replace("_", " "))


def kind_name(
    kind: str, playbooks: Sequence[Playbook], locale: Locale, gettext: Callable[[str], str]
) -> str:
    """An incident kind in the reader's language, ``playbooks`` being those of that kind: the
    name they give it (``kind_name``), else the catalogs' name of a shipped kind, else the
    name of the playbook itself; a kind no playbook declares any more is shown as stored."""
    given = next((playbook.kind_name for playbook in playbooks if playbook.kind_name), None)
    if given is not None:
        return given.text(locale)
    if kind in KIND_NAMES:
        return gettext(KIND_NAMES[kind])
    if playbooks:
        return playbooks[0].name.text(locale)
    return kind.replace("_", " ")


def notice_name(plan_key: str | None, stored: str, gettext: Callable[[str], str]) -> str:
    """A notice as a reader calls it: the playbook's plan named in their language (stored
    names are ``<incident number> <plan key>``), else the name a person gave it."""
    message = NOTICE_NAMES.get(plan_key) if plan_key else None
    return gettext(message) if message else stored
