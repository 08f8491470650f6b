from datetime import datetime

from pydantic import BaseModel


class DirectMessageRead(BaseModel):
    id: int
    key: str
    channel: str
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
    status: str
    created_at: datetime
    answered_at: datetime | None
    answered_via: str | None
    next_step_at: datetime | None
    messages: list[DirectMessageRead]


class PageRead(BaseModel):
    id: int
    incident_id: int
    role: str
    slot: int
    drill: bool
    status: str
    level: int
    round: int
    escalate_at: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: str | None
    targets: list[TargetRead]


class RoleFigureRead(BaseModel):
    role: str
    slot: int
    status: str
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
    page_status: str
    changed: bool
    message: str
