from datetime import datetime

from pydantic import BaseModel

from incident_cmd.messaging.channels import ChannelName
from incident_cmd.paging.models import AnswerRoute, PageStatus, TargetStatus


class DirectMessageRead(BaseModel):
    id: int
    key: str
    channel: ChannelName
    status: str
    attempts: int
    sent_at: datetime | None
    error_message: str | None


class TargetRead(BaseModel):
    id: int
    user: str
    reason: str
    level: int
    round: int
    status: TargetStatus
    created_at: datetime
    answered_at: datetime | None
    answered_via: AnswerRoute | None
    next_step_at: datetime | None
    messages: list[DirectMessageRead]


class PageRead(BaseModel):
    id: int
    incident_id: int
    role: str
    slot: int
    drill: bool
    status: PageStatus
    level: int
    round: int
    escalate_at: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: AnswerRoute | None
    targets: list[TargetRead]


class RoleFigureRead(BaseModel):
    role: str
    slot: int
    status: PageStatus
    paged_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    seconds_to_ack: int | None
    target_seconds: int
    within_target: bool | None


class MobilisationRead(BaseModel):
    """Time to acknowledge per seat and to the full paged roster, against the playbook's
    ack_within targets. ``within_target`` is null while still possible, false once missed."""

    roles: list[RoleFigureRead]
    full_roster_at: datetime | None
    seconds_to_full_roster: int | None
    full_roster_target_seconds: int | None
    within_target: bool | None
    pages: list[PageRead]


class MyPage(BaseModel):
    target_id: int
    code: str
    incident_id: int
    incident_number: str
    incident_title: str
    role: str
    drill: bool
    created_at: datetime


class AnswerRead(BaseModel):
    target_id: int
    page_status: PageStatus
    changed: bool
    message: str
