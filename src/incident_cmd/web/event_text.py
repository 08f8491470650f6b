"""What a timeline entry says, in the reader's language.

The timeline is append-only and its stored ``summary`` is English, written once by the code
that made the entry. A page says the entry again from its ``kind`` and ``data`` through the
catalogs: ``SENTENCES`` gives each kind one or more sentences (message ids whose named
placeholders come from the entry's data), the first that fits the entry is used. A sentence
fits when its condition holds and every placeholder can be said; an entry from before its
data carried a value falls back to its stored summary, as does a kind without a sentence.
Text people wrote (updates) is shown as written (``AS_WRITTEN``).

A placeholder is the data's value of that name, or, when ``words`` names it, what that
function makes of the data: a status in the reader's language, a role's title from the
incident's playbook, a time in the reader's zone. A function answers None when the entry
lacks what it needs."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import pass_context
from jinja2.runtime import Context

from incident_cmd.customers.masking import mask_text
from incident_cmd.i18n import Locale
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import translations
from incident_cmd.web.accountability_labels import accountability_label
from incident_cmd.web.drill_labels import drill_label
from incident_cmd.web.labels import N_, label_of, notice_name
from incident_cmd.web.ticket_display import ticket_label


@dataclass(frozen=True)
class Reading:
    """Who reads the entry: their language and time zone, and the playbook of the incident
    whose timeline it is (names its roles, tasks and severities), if any."""

    locale: Locale
    zone: str
    playbook: Playbook | None = None

    def gettext(self, message: str) -> str:
        return translations.translations(self.locale).gettext(message)

    def pick(self, texts: Mapping[str, str]) -> str:
        return texts.get(self.locale) or texts.get(Locale.en) or next(iter(texts.values()), "")


Data = Mapping[str, Any]
Word = Callable[[Data, Reading], str | None]


@dataclass(frozen=True)
class Sentence:
    text: str
    words: Mapping[str, Word] = field(default_factory=dict)
    when: Callable[[Data], bool] = lambda data: True

    def placeholders(self) -> list[str]:
        return re.findall(r"%\((\w+)\)s", self.text)


# --- how values are said -------------------------------------------------------------------


def _enum(key: str, enum: type[StrEnum]) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        try:
            return reading.gettext(label_of(enum(value)))
        except ValueError:
            return str(value)

    return say


def _ticket(key: str, kind: str) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        value = data.get(key)
        return None if value is None else reading.gettext(ticket_label(value, kind))

    return say


def _named(key: str, kind: str) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        value = data.get(key)
        return None if value is None else reading.gettext(label_of(str(value), kind))

    return say


def _role(data: Data, reading: Reading) -> str | None:
    key = data.get("role")
    if key is None:
        return None
    role = reading.playbook.role(key) if reading.playbook else None
    return reading.pick(role.title.model_dump(by_alias=True)) if role else key


def _task(data: Data, reading: Reading) -> str | None:
    key = data.get("task")
    if key is None:
        return None
    for task in reading.playbook.tasks if reading.playbook else ():
        if task.key == key:
            return reading.pick(task.title.model_dump(by_alias=True))
    # A review checklist item (postmortems: "review:<item key>").
    for item in reading.playbook.review if reading.playbook else ():
        if key == f"review:{item.key}":
            return reading.pick(item.item.model_dump(by_alias=True))
    return key.replace("_", " ")


# The review's written sections, as the review page names them.
SECTION_NAMES = {
    "summary": N_("Summary"),
    "causes": N_("Causes and contributing factors"),
    "went_well": N_("What went well"),
    "went_badly": N_("What went badly"),
    "lucky": N_("Where we were lucky"),
}


def _section(data: Data, reading: Reading) -> str | None:
    key = data.get("section")
    if key is None:
        return None
    return reading.gettext(SECTION_NAMES[key]) if key in SECTION_NAMES else str(key)


def _severity(key: str) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        severity = reading.playbook.severity(value) if reading.playbook else None
        name = reading.pick(severity.name.model_dump(by_alias=True)) if severity else ""
        return f"{value.upper()} {name}".strip()

    return say


def _playbook(data: Data, reading: Reading) -> str | None:
    key = data.get("playbook")
    if key is None:
        return None
    if reading.playbook is not None and reading.playbook.key == key:
        return reading.pick(reading.playbook.name.model_dump(by_alias=True))
    return key


def _notice(data: Data, reading: Reading) -> str | None:
    stored = data.get("notice")
    if stored is None:
        return None
    return notice_name(data.get("plan_key"), stored, reading.gettext)


def _moment(key: str) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        moment = datetime.fromisoformat(value).astimezone(ZoneInfo(reading.zone))
        return moment.strftime("%Y-%m-%d %H:%M")

    return say


def _sum(*keys: str) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        if any(data.get(key) is None for key in keys):
            return None
        return str(sum(data[key] for key in keys))

    return say


def _score(key: str) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        return "–" if data.get(key) is None else str(data[key])

    return say


def _drill(key: str, kind: str) -> Word:
    """A drill evaluation's value (a rating, a kind of note) in the reader's words."""

    def say(data: Data, reading: Reading) -> str | None:
        value = data.get(key)
        return None if value is None else reading.gettext(drill_label(str(value), kind))

    return say


def _picked(key: str) -> Word:
    """A text the entry keeps in each language, in the reader's."""

    def say(data: Data, reading: Reading) -> str | None:
        texts = data.get(key)
        return reading.pick(texts) if isinstance(texts, Mapping) and texts else None

    return say


def _seat(data: Data, reading: Reading) -> str | None:
    slot = data.get("slot")
    return None if slot is None else str(slot + 1)


def _accountability(key: str) -> Word:
    def say(data: Data, reading: Reading) -> str | None:
        value = data.get(key)
        return None if value is None else reading.gettext(accountability_label(str(value)))

    return say


def _has(key: str, value: Any = True) -> Callable[[Data], bool]:
    return lambda data: data.get(key) == value


def _filled(key: str) -> Callable[[Data], bool]:
    return lambda data: bool(data.get(key))


STATUS_CHANGE = {"from": _enum("from", IncidentStatus), "to": _enum("to", IncidentStatus)}
ROLE = {"role": _role}
PAGE = {"role": _role, "level": _named("level", "page_level"), "via": _named("via", "answer")}
NOTICE = {"notice": _notice}
TICKET_CHANGE = {"from": _ticket("from", "status"), "to": _ticket("to", "status")}
SLA = {"timer": _ticket("timer", "timer")}
MESSAGE = {"channel": _enum("channel", ChannelName)}

# Text people wrote, shown as they wrote it.
AS_WRITTEN = frozenset({"update.internal", "update.public", "review.lesson", "review.proposal"})

SENTENCES: Mapping[str, tuple[Sentence, ...]] = {
    # --- the incident ---
    "incident.declared": (
        Sentence(
            N_("Drill %(number)s declared from the “%(playbook)s” playbook at %(severity)s"),
            {"playbook": _playbook, "severity": _severity("severity")},
            when=_has("drill"),
        ),
        Sentence(
            N_("Incident %(number)s declared from the “%(playbook)s” playbook at %(severity)s"),
            {"playbook": _playbook, "severity": _severity("severity")},
        ),
    ),
    "incident.status": (
        Sentence(N_("Status %(from)s → %(to)s: %(note)s"), STATUS_CHANGE, when=_filled("note")),
        Sentence(N_("Status %(from)s → %(to)s"), STATUS_CHANGE),
    ),
    "incident.severity": (
        Sentence(
            N_("Severity %(from)s → %(to)s: %(reason)s"),
            {"from": _severity("from"), "to": _severity("to")},
        ),
    ),
    "tasks.created": (Sentence(N_("%(count)s tasks created from the playbook")),),
    "task.completed": (
        Sentence(N_("Task done: %(task)s — %(note)s"), {"task": _task}, when=_filled("note")),
        Sentence(N_("Task done: %(task)s"), {"task": _task}),
    ),
    "task.overdue": (
        Sentence(
            N_("Task overdue: %(task)s (due %(due)s)"), {"task": _task, "due": _moment("due")}
        ),
        Sentence(N_("Task overdue: %(task)s"), {"task": _task}),
    ),
    # --- the roster and paging ---
    "roster.assigned": (Sentence(N_("%(user)s takes the seat of %(role)s"), ROLE),),
    "roster.unfilled": (
        Sentence(N_("Seat %(seat)s of %(role)s left unfilled"), {**ROLE, "seat": _seat}),
    ),
    "roster.relieved": (Sentence(N_("%(user)s relieved as %(role)s"), ROLE),),
    "roster.acting": (
        Sentence(
            N_("%(user)s acts as %(role)s while %(holder)s has not acknowledged; the seat stays"),
            ROLE,
        ),
    ),
    "roster.stood_down": (
        Sentence(
            N_("Roster stood down, %(told)s people told: %(message)s"), when=_filled("message")
        ),
        Sentence(N_("Roster stood down, %(told)s people told")),
    ),
    "page.sent": (Sentence(N_("Paging %(user)s for %(role)s (%(level)s, round %(round)s)"), PAGE),),
    "page.acknowledged": (
        Sentence(
            N_("%(user)s acknowledged the page for %(role)s by %(via)s after %(seconds)s s"), PAGE
        ),
    ),
    "page.declined": (Sentence(N_("%(user)s declined the page for %(role)s by %(via)s"), PAGE),),
    "page.escalated": (
        Sentence(
            N_("Page for %(role)s escalated: %(reason)s"),
            {**ROLE, "reason": _named("reason", "page_reason")},
        ),
    ),
    "page.exhausted": (
        Sentence(N_("Nobody acknowledged the page for %(role)s after %(rounds)s rounds"), ROLE),
        Sentence(N_("Nobody acknowledged the page for %(role)s"), ROLE),
    ),
    "page.cancelled": (
        Sentence(
            N_("Page for %(role)s cancelled: %(reason)s"),
            {**ROLE, "reason": _named("reason", "page_reason")},
        ),
    ),
    "page.requested": (
        Sentence(
            N_("%(role)s paged again from the start of its chain, beginning with %(user)s"),
            ROLE,
            when=_has("again"),
        ),
        Sentence(N_("%(role)s paged again from the start of its chain"), ROLE, when=_has("again")),
        Sentence(N_("%(user)s paged for %(role)s on request"), ROLE),
        Sentence(N_("%(role)s paged on request"), ROLE),
    ),
    "message.sent": (
        Sentence(N_("Page sent by %(channel)s"), MESSAGE, when=_has("source", "page_target")),
        Sentence(N_("Stand-down sent by %(channel)s"), MESSAGE, when=_has("source", "roster")),
        Sentence(N_("Message sent by %(channel)s"), MESSAGE),
    ),
    "message.failed": (
        Sentence(N_("Message by %(channel)s failed: %(error)s"), MESSAGE),
        Sentence(N_("Page by %(channel)s failed"), MESSAGE, when=_has("source", "page_target")),
        Sentence(N_("Stand-down by %(channel)s failed"), MESSAGE, when=_has("source", "roster")),
        Sentence(N_("Message by %(channel)s failed"), MESSAGE),
    ),
    # --- customer notices ---
    "campaign.created": (Sentence(N_("Notice drafted: %(notice)s"), NOTICE),),
    "campaign.created_by_calendar": (
        Sentence(N_("Notice created and approved by the calendar: %(name)s")),
    ),
    "campaign.approved": (
        Sentence(N_("Notice resumed: %(notice)s"), NOTICE, when=_has("from", "paused")),
        Sentence(N_("Notice approved: %(notice)s"), NOTICE),
    ),
    "campaign.scheduled": (
        Sentence(
            N_("Notice scheduled for %(send_at)s: %(notice)s"),
            {**NOTICE, "send_at": _moment("send_at")},
        ),
    ),
    "campaign.sending": (
        Sentence(N_("Notice resumed: %(notice)s"), NOTICE, when=_has("from", "paused")),
        Sentence(N_("Notice sending to %(audience)s recipients: %(notice)s"), NOTICE),
    ),
    "campaign.paused": (Sentence(N_("Notice paused: %(notice)s"), NOTICE),),
    "campaign.cancelled": (Sentence(N_("Notice cancelled: %(notice)s"), NOTICE),),
    "campaign.deliveries_cancelled": (
        Sentence(N_("%(cancelled)s messages not yet sent are cancelled: %(notice)s"), NOTICE),
    ),
    "campaign.failed_retried": (
        Sentence(N_("%(retried)s failed messages queued again: %(notice)s"), NOTICE),
    ),
    "campaign.completed": (
        Sentence(
            N_(
                "Notice completed: %(notice)s. %(sent)s sent or delivered, %(failed)s failed, "
                "%(suppressed)s opted out"
            ),
            {**NOTICE, "sent": _sum("sent", "delivered"), "failed": _sum("failed", "undelivered")},
        ),
    ),
    # --- public statements ---
    "statement.drafted": (
        Sentence(
            N_("Correction of statement version %(corrects_version)s drafted: %(title)s"),
            {"title": _picked("title")},
            when=_filled("corrects_version"),
        ),
        Sentence(N_("Statement drafted: %(title)s"), {"title": _picked("title")}),
    ),
    "statement.approved": (
        Sentence(N_("Statement approved: %(title)s"), {"title": _picked("title")}),
        Sentence(N_("Statement approved")),
    ),
    "statement.published": (
        Sentence(
            N_("Statement version %(version)s published, correcting version %(corrects_version)s"),
            when=_filled("corrects_version"),
        ),
        Sentence(N_("Statement version %(version)s published")),
    ),
    "statement.sent_to_subscribers": (
        Sentence(N_("Statement version %(version)s sent to %(count)s subscribers")),
    ),
    # --- a subscription to public statements (its address is never on the timeline) ---
    "subscription.requested": (Sentence(N_("Subscription asked for; waiting for confirmation")),),
    "subscription.confirmed": (Sentence(N_("Subscription confirmed")),),
    "subscription.ended": (Sentence(N_("Unsubscribed")),),
    # --- situation reports to the command ---
    "sitrep.compiled": (
        Sentence(
            N_("Situation report %(number)s compiled on the cadence"), when=_filled("scheduled")
        ),
        Sentence(N_("Situation report %(number)s compiled on request")),
    ),
    # --- the monthly complaint review ---
    "review.sent": (
        Sentence(
            N_("Review of %(period)s sent to %(count)s managers by itself on its due day"),
            when=_filled("by_itself"),
        ),
        Sentence(N_("Review of %(period)s sent to %(count)s managers")),
    ),
    # --- the review ---
    "timeline.starred": (Sentence(N_("An entry starred for the review")),),
    "timeline.unstarred": (Sentence(N_("An entry no longer starred for the review")),),
    # --- the post-incident review ---
    "postmortem.started": (Sentence(N_("Review started: %(count)s checklist items to do")),),
    "postmortem.section_edited": (
        Sentence(N_("Review section “%(section)s” edited"), {"section": _section}),
    ),
    "postmortem.approved": (
        Sentence(N_("Review approved: %(note)s"), when=_filled("note")),
        Sentence(N_("Review approved")),
    ),
    "postmortem.approval_withdrawn": (
        Sentence(
            N_("Review approval withdrawn: the review was taken up again"), when=_has("reopened")
        ),
        Sentence(
            N_("Review approval withdrawn: section “%(section)s” changed"),
            {"section": _section},
        ),
    ),
    "postmortem.followup_added": (
        Sentence(
            N_("Follow-up “%(title)s” for %(owner)s, due %(due_on)s"),
        ),
    ),
    "postmortem.followup_done": (
        Sentence(N_("Follow-up done: “%(title)s” — %(note)s"), when=_filled("note")),
        Sentence(N_("Follow-up done: “%(title)s”")),
    ),
    "postmortem.followup_overdue": (
        Sentence(
            N_(
                "Follow-up “%(title)s” of %(owner)s is overdue "
                "(due %(due_on)s, %(late_days)s working days late)"
            )
        ),
    ),
    # --- accountability (no names of the people concerned, no money: see accountability) ---
    "accountability.proposed": (
        Sentence(
            N_(
                "Responsibility finding %(finding)s proposed as a major case, "
                "for the general manager's ruling"
            ),
            when=_has("major"),
        ),
        Sentence(
            N_("Responsibility finding %(finding)s proposed, for approval by %(route)s"),
            {"route": _accountability("route")},
        ),
    ),
    "accountability.approved": (
        Sentence(
            N_("General manager's ruling on finding %(finding)s: penalty approved"),
            when=_has("major"),
        ),
        Sentence(
            N_("Responsibility finding %(finding)s approved by %(route)s"),
            {"route": _accountability("route")},
        ),
    ),
    "accountability.rejected": (Sentence(N_("Responsibility finding %(finding)s rejected")),),
    "accountability.letter_issued": (
        Sentence(
            N_("Decision letter %(letter)s (version %(version)s) issued on finding %(finding)s")
        ),
    ),
    "accountability.appealed": (Sentence(N_("Appeal against decision letter %(letter)s filed")),),
    "accountability.appeal_decided": (
        Sentence(
            N_("Appeal against decision letter %(letter)s decided: %(outcome)s"),
            {"outcome": _accountability("outcome")},
        ),
    ),
    "postmortem.meeting_set": (
        Sentence(N_("Review meeting moved to %(at)s"), {"at": _moment("at")}, when=_has("moved")),
        Sentence(
            N_("Review meeting set for %(at)s, after its window"),
            {"at": _moment("at")},
            when=_has("late"),
        ),
        Sentence(N_("Review meeting set for %(at)s"), {"at": _moment("at")}),
    ),
    "postmortem.meeting_reminded": (
        Sentence(N_("Attendees reminded of the review meeting at %(at)s"), {"at": _moment("at")}),
    ),
    "postmortem.meeting_missed": (
        Sentence(N_("The review meeting was not set within its window; duty managers told")),
    ),
    "postmortem.revision_proposed": (
        Sentence(
            N_("Revision of the “%(playbook)s” playbook proposed: %(finding)s"),
            {"playbook": _playbook},
        ),
    ),
    "postmortem.revision_accepted": (
        Sentence(
            N_("Revision of the “%(playbook)s” playbook accepted: %(note)s"),
            {"playbook": _playbook},
            when=_filled("note"),
        ),
        Sentence(N_("Revision of the “%(playbook)s” playbook accepted"), {"playbook": _playbook}),
    ),
    "postmortem.revision_rejected": (
        Sentence(
            N_("Revision of the “%(playbook)s” playbook rejected: %(note)s"),
            {"playbook": _playbook},
            when=_filled("note"),
        ),
        Sentence(N_("Revision of the “%(playbook)s” playbook rejected"), {"playbook": _playbook}),
    ),
    "postmortem.drill_requested": (
        Sentence(
            N_("Drill of the “%(playbook)s” playbook requested by %(wanted_by)s: %(reason)s"),
            {"playbook": _playbook},
        ),
    ),
    "postmortem.drill_scheduled": (
        Sentence(
            N_("Drill of the “%(playbook)s” playbook scheduled for %(at)s"),
            {"playbook": _playbook, "at": _moment("at")},
        ),
    ),
    "postmortem.drill_cancelled": (
        Sentence(
            N_("Drill request for the “%(playbook)s” playbook cancelled"), {"playbook": _playbook}
        ),
    ),
    # --- a ticket ---
    "ticket.created": (
        Sentence(
            N_("Taken in by %(channel)s: %(category)s, %(priority)s, safety-related"),
            {
                "channel": _ticket("channel", "channel"),
                "category": _ticket("category", "category"),
                "priority": _ticket("priority", "priority"),
            },
            when=_has("safety"),
        ),
        Sentence(
            N_("Taken in by %(channel)s: %(category)s, %(priority)s"),
            {
                "channel": _ticket("channel", "channel"),
                "category": _ticket("category", "category"),
                "priority": _ticket("priority", "priority"),
            },
        ),
    ),
    "ticket.assigned": (
        Sentence(N_("Reassigned from %(from)s to %(to)s")),
        Sentence(N_("Assigned to %(to)s")),
        Sentence(N_("Assigned to %(user)s")),
    ),
    "ticket.linked": (Sentence(N_("Linked to incident %(incident)s")),),
    "ticket.status": (
        Sentence(N_("Status %(from)s → %(to)s: %(note)s"), TICKET_CHANGE, when=_filled("note")),
        Sentence(N_("Status %(from)s → %(to)s"), TICKET_CHANGE),
    ),
    "ticket.plan": (
        Sentence(N_("Handling plan: %(plan)s")),
        Sentence(N_("Handling plan recorded")),
    ),
    "ticket.resolved": (Sentence(N_("Resolved: %(resolution)s")),),
    "ticket.reopened": (Sentence(N_("Reopened: %(reason)s")),),
    "ticket.appealed": (Sentence(N_("Appealed: %(reason)s")),),
    "ticket.appeal_assigned": (
        Sentence(N_("Appeal handed from %(from)s to %(to)s"), when=_filled("from")),
        Sentence(N_("Appeal handler: %(to)s")),
    ),
    "ticket.appeal_note": (Sentence(N_("Appeal investigation: %(note)s")),),
    "ticket.appeal_answered": (
        Sentence(
            N_("Appeal answered, %(outcome)s: %(answer)s"),
            {"outcome": _ticket("outcome", "appeal_outcome")},
        ),
    ),
    "ticket.survey": (
        Sentence(
            N_("Satisfaction %(csat)s, would recommend %(nps)s"),
            {"csat": _score("csat"), "nps": _score("nps")},
        ),
    ),
    "ticket.survey_unreadable": (Sentence(N_("Survey reply “%(text)s” read as no score")),),
    "ticket.callback": (
        Sentence(
            N_("%(callback)s callback, for %(owner)s"), {"callback": _named("key", "callback")}
        ),
        Sentence(
            N_("%(callback)s callback: nobody on duty to make it"),
            {"callback": _named("key", "callback")},
        ),
    ),
    "ticket.task_done": (
        Sentence(N_("%(task)s done: %(note)s"), {"task": _named("task", "ticket_task")}),
        Sentence(N_("%(task)s done"), {"task": _named("task", "ticket_task")}),
    ),
    "ticket.task_overdue": (
        Sentence(N_("%(task)s overdue"), {"task": _named("task", "ticket_task")}),
    ),
    "ticket.customer_message": (
        Sentence(N_("The customer wrote by SMS: %(text)s")),
        Sentence(N_("The customer wrote by SMS")),
    ),
    "sla.warned": (
        Sentence(N_("%(timer)s target near; %(told)s told"), SLA),
        Sentence(N_("%(timer)s target near"), SLA),
    ),
    "sla.breached": (
        Sentence(N_("%(timer)s target missed; %(told)s told"), SLA),
        Sentence(N_("%(timer)s target missed"), SLA),
    ),
    "sla.breached_twice": (
        Sentence(N_("%(timer)s target missed twice; %(told)s told"), SLA),
        Sentence(N_("%(timer)s target missed twice"), SLA),
    ),
    # --- complaint signals ---
    "signal.raised": (Sentence(N_("%(count)s similar complaints in the window: signal raised")),),
    "signal.declared": (Sentence(N_("Declared as an incident: %(reason)s")),),
    "signal.dismissed": (Sentence(N_("Dismissed: %(reason)s")),),
    # --- a customer's messages ---
    "sms.opted_out": (Sentence(N_("Replied to stop SMS notices")),),
    "sms.opted_in": (Sentence(N_("Replied to receive SMS notices again")),),
    "sms.unfiled": (Sentence(N_("An SMS kept unfiled: its sender is not a phone number")),),
    "sms.set_aside": (Sentence(N_("An SMS set aside after %(attempts)s failed attempts")),),
    "email.unsubscribed": (
        Sentence(N_("Unsubscribed from email notices (safety recall notices are still sent)")),
    ),
    # --- people, tokens and teams ---
    "user.created": (Sentence(N_("Account created")),),
    "user.updated": (Sentence(N_("Account details changed")),),
    "user.password_set": (Sentence(N_("Password set")),),
    "token.issued": (Sentence(N_("API token issued")),),
    "token.revoked": (Sentence(N_("API token revoked")),),
    "token.revoked_all": (Sentence(N_("All tokens revoked: %(reason)s")),),
    "team.created": (Sentence(N_("Team created")),),
    "rotation.created": (Sentence(N_("Rotation created")),),
    "rotation.override": (Sentence(N_("Cover added: %(reason)s")),),
    "rotation.override_removed": (Sentence(N_("Cover removed")),),
    "team.changed": (Sentence(N_("Team details changed")),),
    "team.member_added": (Sentence(N_("%(user)s joined the team")),),
    "team.member_removed": (Sentence(N_("%(user)s left the team")),),
    "rotation.changed": (Sentence(N_("Rotation %(rotation)s changed")),),
    "rotation.removed": (Sentence(N_("Rotation %(rotation)s removed")),),
    # --- a complaint's verification and timetable (seeds 001) ---
    "ticket.verified": (
        Sentence(
            N_("Verified: the complaint is substantiated: %(note)s"),
            when=lambda data: data.get("outcome") == "substantiated",
        ),
        Sentence(
            N_("Verified: the complaint is not substantiated: %(note)s"),
            when=lambda data: data.get("outcome") == "not_substantiated",
        ),
    ),
    "ticket.timetable": (
        Sentence(N_("The customer is told it will be resolved by %(resolve_by)s")),
    ),
    # --- drills (drills.flows): the controller's moves and the scenario's injects ---
    "drill.started": (
        Sentence(
            N_("Drill “%(name)s” started: %(injects)s injects, responders paged"),
            {"name": _picked("name")},
            when=_has("paged"),
        ),
        Sentence(
            N_("Drill “%(name)s” started: %(injects)s injects, nobody paged"),
            {"name": _picked("name")},
        ),
    ),
    "drill.paused": (Sentence(N_("Drill paused")),),
    "drill.resumed": (
        Sentence(N_("Drill resumed after %(seconds)s s; %(moved)s injects moved on")),
    ),
    "drill.ended": (Sentence(N_("Drill ended; %(cancelled)s injects not fired")),),
    # The drill's evaluation (drills.evaluation).
    "drill.rated": (
        Sentence(
            N_("Objective %(objective)s rated %(rating)s: %(notes)s"),
            {"rating": _drill("rating", "rating")},
            when=_filled("notes"),
        ),
        Sentence(
            N_("Objective %(objective)s rated %(rating)s"), {"rating": _drill("rating", "rating")}
        ),
    ),
    "drill.evaluator_named": (Sentence(N_("%(user)s named an evaluator of the drill")),),
    "drill.hotwash_note": (
        Sentence(N_("Hot wash, %(kind)s: %(text)s"), {"kind": _drill("kind", "note_kind")}),
    ),
    "drill.inject_fired": (
        Sentence(
            N_("Inject fired early by the controller: %(description)s Expected: %(expected)s"),
            {"description": _picked("description"), "expected": _picked("expected")},
            when=_has("early"),
        ),
        Sentence(
            N_("Inject at +%(offset)s min: %(description)s Expected: %(expected)s"),
            {"description": _picked("description"), "expected": _picked("expected")},
        ),
    ),
    "drill.wave_done": (Sentence(N_("All %(count)s synthetic complaints of the wave taken in")),),
    "drill.sms_replies": (
        Sentence(N_("%(count)s SMS from synthetic customers; %(tickets)s became complaints")),
    ),
    "drill.message": (Sentence(N_("To the participants: %(text)s"), {"text": _picked("text")}),),
    "drill.facts_changed": (Sentence(N_("New facts: %(update)s"), {"update": _picked("update")}),),
    "drill.unresponsive": (
        Sentence(
            N_("The holder of %(role)s no longer answers; %(pages)s open pages escalated"), ROLE
        ),
    ),
    "drill.signal_raised": (
        Sentence(N_("Drill mass-complaint signal: %(count)s complaints (threshold %(threshold)s)")),
    ),
    "page.unreachable": (Sentence(N_("Nobody paged for %(role)s answers"), ROLE),),
    "task.added": (
        Sentence(
            N_("Task added for %(role)s: %(title)s (due %(due)s)"),
            {**ROLE, "title": _picked("title"), "due": _moment("due_at")},
        ),
    ),
    "incident.scope_widened": (
        Sentence(
            N_("Scope widened: %(added)s"),
            {"added": lambda data, reading: ", ".join(data.get("added") or ()) or None},
        ),
    ),
    # --- the drill calendar (drills.calendar) and the review's requests it answers ---
    "drill.scheduled": (
        Sentence(
            N_("Drill scheduled for %(at)s by the cadence (period %(occurrence)s)"),
            {"at": _moment("at")},
            when=_filled("occurrence"),
        ),
        Sentence(
            N_("Drill scheduled for %(at)s for drill request %(request)s"),
            {"at": _moment("at")},
            when=_filled("request"),
        ),
        Sentence(N_("Drill scheduled for %(at)s"), {"at": _moment("at")}),
    ),
    "drill.schedule_moved": (
        Sentence(
            N_("Scheduled drill moved from %(from)s to %(at)s"),
            {"from": _moment("from"), "at": _moment("at")},
        ),
    ),
    "drill.schedule_cancelled": (Sentence(N_("Scheduled drill cancelled")),),
    "drill.schedule_started": (Sentence(N_("Scheduled drill started as drill run %(run)s")),),
    "drill.reminded": (Sentence(N_("%(told)s people reminded %(days)s days before the drill")),),
    "postmortem.drill_unscheduled": (
        Sentence(
            N_("Drill for the “%(playbook)s” playbook cancelled; the request is open again"),
            {"playbook": _playbook},
        ),
    ),
}


def _said(sentence: Sentence, data: Data, reading: Reading) -> str | None:
    if not sentence.when(data):
        return None
    values: dict[str, str] = {}
    for name in sentence.placeholders():
        word = sentence.words.get(name)
        value = word(data, reading) if word else data.get(name)
        if value is None:
            return None
        values[name] = str(value)
    return reading.gettext(sentence.text) % values


def event_text(event: TimelineEvent, reading: Reading) -> str:
    """The entry in the reader's words; its stored summary when no sentence fits it."""
    if event.kind in AS_WRITTEN:
        return event.summary
    for sentence in SENTENCES.get(event.kind, ()):
        said = _said(sentence, event.data or {}, reading)
        if said is not None:
            return said
    return event.summary


@pass_context
def event_text_filter(
    context: Context, event: TimelineEvent, playbook: Playbook | None = None, masked: bool = False
) -> str:
    """``entry | event_text(playbook=…, masked=…)``: in the page's language and the reader's
    zone; ``masked`` for a reader who sees contact details masked (a customer's words may
    carry them)."""
    user = context.get("user")
    zone = user.timezone if user is not None else "UTC"
    text = event_text(event, Reading(translations.page_locale_of(context), zone, playbook))
    return mask_text(text) if masked else text
