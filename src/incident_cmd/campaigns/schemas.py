from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from incident_cmd.config import CLOCK_TIME
from incident_cmd.fields import MAX_LIST_ITEMS, BodyId, Flag, Label, Moment
from incident_cmd.messaging.channels import NoticeChannel
from incident_cmd.playbooks.schema import NoticeClassName

AudienceRule = Literal[
    "scope_purchasers", "scope_regions", "open_tickets", "closed_tickets", "explicit"
]


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: AudienceRule
    products: list[Label] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    batches: list[Label] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    regions: list[Label] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    customers: list[Label] = Field(
        default_factory=list, max_length=5000, description="external refs, for explicit"
    )
    closed_from: Moment | None = Field(
        default=None, description="for closed_tickets: complaints closed at or after this"
    )
    closed_until: Moment | None = Field(
        default=None, description="for closed_tickets: complaints closed before this"
    )

    @model_validator(mode="after")
    def _rule_has_what_it_needs(self) -> "Audience":
        if self.rule == "scope_purchasers" and not (self.products or self.batches):
            raise ValueError("scope_purchasers needs products or batches")
        if self.rule == "scope_regions" and not self.regions:
            raise ValueError("scope_regions needs regions")
        if self.rule == "explicit" and not self.customers:
            raise ValueError("explicit needs customers (external refs)")
        if self.rule == "closed_tickets" and not (
            self.closed_from and self.closed_until and self.closed_from < self.closed_until
        ):
            raise ValueError("closed_tickets needs closed_from before closed_until")
        return self


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    channel: NoticeChannel
    template: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    audience: Audience
    incident_id: BodyId | None = None
    safety_critical: Flag = False
    notice_class: NoticeClassName = Field(
        default="update",
        description="safety: still sent by email after an unsubscribe (a recall's first "
        "notice); update: not. SMS STOP stops both",
    )
    two_person_approval: Flag = False
    quiet_start: str | None = Field(default=None, pattern=CLOCK_TIME)
    quiet_end: str | None = Field(default=None, pattern=CLOCK_TIME)
    send_at: Moment | None = None
    reply_keywords: dict[Label, dict[Label, Label]] = Field(default_factory=dict, max_length=20)


class CampaignCounts(BaseModel):
    total: int = 0
    pending: int = 0
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    suppressed: int = 0
    cancelled: int = 0
    replied: int = 0


class CampaignRead(BaseModel):
    id: int
    name: str
    incident_id: int | None
    plan_key: str | None
    channel: str
    template: str
    audience: dict
    status: str
    safety_critical: bool
    notice_class: str
    two_person_approval: bool
    quiet_start: str
    quiet_end: str
    send_at: datetime | None
    drill: bool
    created_by: str | None = Field(description="null for a campaign the calendar made")
    approved_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    counts: CampaignCounts


class PreviewLocale(BaseModel):
    locale: str
    recipients: int
    subject: str | None
    body: str
    encoding: str | None = None
    segments: int | None = None


class CampaignPreview(BaseModel):
    audience: int
    locales: list[PreviewLocale]
    estimated_cost: float | None
    currency: str | None


class CampaignAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class FailedRetried(BaseModel):
    retried: int = Field(description="failed messages never handed to a provider, queued again")
    campaign: CampaignRead
