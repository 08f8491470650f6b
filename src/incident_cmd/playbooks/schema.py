"""The playbook file format. Every model forbids unknown keys, so a typo is an error."""

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import NoticeChannel
from incident_cmd.workdays import parse_offset


def _check_offset(value: str) -> str:
    parse_offset(value)
    return value


Offset = Annotated[str, AfterValidator(_check_offset)]
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]

# An incident's kind is kept in a 32-character column.
KIND_LENGTH = 32
KIND_PATTERN = re.compile(rf"[a-z][a-z0-9_-]{{0,{KIND_LENGTH - 1}}}")


def _check_kind(value: str) -> str:
    if not KIND_PATTERN.fullmatch(value):
        raise ValueError(
            f"an incident kind is a slug of at most {KIND_LENGTH} characters: lowercase "
            "letters, digits, '-' and '_', starting with a letter (like cold-chain-failure)"
        )
    return value


# Any slug: a new kind of incident is a new playbook file, and nothing else.
IncidentKind = Annotated[str, AfterValidator(_check_kind)]


class PublicStatus(StrEnum):
    """What the public is told of an incident's progress."""

    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"


ScopeField = Literal["products", "batches", "regions"]
# safety: the first safety notice of a recall, sent by email even after an unsubscribe;
# update: everything else (updates, reminders, apologies). SMS STOP stops both.
NoticeClassName = Literal["safety", "update"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Bilingual(Strict):
    zh_CN: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)

    def text(self, locale: Locale) -> str:
        return self.zh_CN if locale == Locale.zh_CN else self.en


class ScopeRule(Strict):
    require_any: list[ScopeField] = Field(
        default_factory=list,
        description="declaring needs at least one value in one of these scope fields",
    )


def _check_cadence(value: str) -> str:
    amount, unit = parse_offset(value)
    if unit not in ("m", "h") or amount < 1:
        raise ValueError("a report cadence is minutes or hours (30m, 2h)")
    return value


Cadence = Annotated[str, AfterValidator(_check_cadence)]


class Severity(Strict):
    key: Key
    name: Bilingual
    respond_within: Offset
    resolve_within: Offset
    # How often the commander and deputy receive a situation report (态势报告) while the
    # incident is open; without it, reports are compiled only on demand.
    report_every: Cadence | None = None


# ``acting``: the holder of the role named by the seat's ``acting`` (the deputy for the
# commander); the other steps reach further out from the seat's own team.
EscalationStep = Literal["acting", "next_in_rotation", "team_lead", "duty_manager"]
ESCALATION_CHAIN: tuple[EscalationStep, ...] = ("next_in_rotation", "team_lead", "duty_manager")


class Escalation(Strict):
    """Who is paged, and when, while a seat goes unacknowledged (seeds 002: the headquarters
    assembles at once; an unanswered call goes up the line)."""

    after: Offset | None = Field(
        default=None, description="wait between steps; the role's ack_within if not given"
    )
    chain: list[EscalationStep] = Field(default_factory=lambda: list(ESCALATION_CHAIN))
    rounds: int = Field(default=2, ge=1, le=5, description="times through the whole chain")
    duty_team: Key = "duty-managers"


class RosterRole(Strict):
    key: Key
    title: Bilingual
    team: Key
    rotation: str | None = None
    count: int = Field(default=1, ge=1, le=20)
    page: bool = False
    ack_within: Offset = "15m"
    escalation: Escalation = Escalation()
    # A seat that is not handed to whoever answers its escalation: while its holder has not
    # acknowledged, the holder of this role acts for them (总经理担任总指挥: the general manager
    # is the commander; the deputy acts, the seat stays), until a duty manager reassigns it.
    acting: Key | None = None


class Task(Strict):
    key: Key
    title: Bilingual
    role: Key
    due: Offset
    depends_on: Key | None = None


class NotificationPlan(Strict):
    key: Key
    channel: NoticeChannel
    template: Key
    audience: Literal["scope_purchasers", "scope_regions", "open_tickets", "explicit"]
    offset: Offset = "0m"
    safety_critical: bool = False
    notice_class: NoticeClassName = "update"
    two_person_approval: bool = False
    skip_if_replied_to: Key | None = Field(
        default=None, description="leave out recipients who replied to this earlier notice"
    )
    reply_keywords: dict[str, Bilingual] = Field(default_factory=dict)


class StatusTemplate(Strict):
    key: Key
    status: PublicStatus
    body: Bilingual


class ReviewItem(Strict):
    key: Key
    item: Bilingual
    role: Key
    due_after_resolution: Offset


class Trigger(Strict):
    key: Key
    dimension: Literal["product_batch", "region", "category"]
    window: Offset
    threshold: int = Field(ge=2)
    rise_factor: float | None = Field(default=None, gt=1)
    category: str | None = None


class Playbook(Strict):
    key: Key
    name: Bilingual
    kind: IncidentKind
    # What pages call the kind. Without it, a shipped kind is named by the catalogs and a
    # new one by the playbook's own name.
    kind_name: Bilingual | None = None
    description: Bilingual | None = None
    scope: ScopeRule = ScopeRule()
    severities: list[Severity] = Field(min_length=1)
    roles: list[RosterRole] = Field(min_length=1)
    tasks: list[Task] = Field(default_factory=list)
    notifications: list[NotificationPlan] = Field(default_factory=list)
    status_templates: list[StatusTemplate] = Field(default_factory=list)
    review: list[ReviewItem] = Field(default_factory=list)
    # The review meeting (复盘会) is held within this many working days of the resolution, on
    # the organisation's holiday calendar. The seeds set no day for it; the nearest rule is
    # seed 001's first check of a complaint within 3 working days (应在接到投诉的3个工作日内
    # 进行初步核实), the same clock the review checklist runs on.
    review_meeting_within: int = Field(
        default=3, ge=1, le=30, description="working days after the resolution"
    )
    triggers: list[Trigger] = Field(default_factory=list)

    def severity(self, key: str) -> Severity | None:
        return next((severity for severity in self.severities if severity.key == key), None)

    def role(self, key: str) -> RosterRole | None:
        return next((role for role in self.roles if role.key == key), None)
