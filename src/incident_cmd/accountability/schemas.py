from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from incident_cmd.accountability.models import AppealState, Authority, FindingState, PenaltyKind
from incident_cmd.auth.schemas import Username
from incident_cmd.fields import Amount, Flag

TEXT_MAX = 5000
MAX_PEOPLE = 50


class FindingCreate(BaseModel):
    """A responsibility finding. ``penalty_amount`` is per person concerned; the finding's
    route follows the total (amount times people), the money the decision takes."""

    model_config = ConfigDict(extra="forbid")

    departments: list[str] = Field(
        default_factory=list, max_length=MAX_PEOPLE, description="team keys"
    )
    people: list[Username] = Field(min_length=1, max_length=MAX_PEOPLE)
    facts: str = Field(min_length=1, max_length=TEXT_MAX)
    loss_amount: Amount = Field(description="the loss, yuan")
    penalty_amount: Amount = Field(description="the penalty of each person concerned, yuan")
    penalty_kind: PenaltyKind
    penalty_text: str = Field(default="", max_length=500)
    major: Flag = False


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class AppealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=TEXT_MAX)


class AppealDecision(BaseModel):
    """``varied`` gives the new penalty; ``upheld`` and ``revoked`` give none."""

    model_config = ConfigDict(extra="forbid")

    outcome: AppealState = Field(description="upheld, varied or revoked")
    note: str = Field(min_length=1, max_length=2000)
    penalty_amount: Amount | None = None
    penalty_text: str = Field(default="", max_length=500)


class AppealRead(BaseModel):
    id: int
    letter: str
    appellant: str
    reason: str
    filed_at: datetime
    state: AppealState
    decided_by: str | None
    decided_at: datetime | None
    note: str
    new_letter: str | None


class LetterRead(BaseModel):
    id: int
    number: str
    person: str
    version: int
    penalty_amount: Decimal
    penalty_text: str
    revoked: bool
    issued_by: str
    issued_at: datetime
    appeal_until: date
    superseded: bool
    text: str = Field(description="the letter as issued, Markdown, in the reader's language")


class FindingRead(BaseModel):
    """Everyone on the staff sees that a finding exists and where it stands; who is
    concerned, the facts and the money only those with ``detail`` (see the API's docstring)."""

    id: int
    incident_id: int
    state: FindingState
    route: Authority
    major: bool
    departments: list[str]
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    detail: bool
    people: list[str] | None = None
    facts: str | None = None
    loss_amount: Decimal | None = None
    penalty_amount: Decimal | None = None
    penalty_total: Decimal | None = None
    penalty_kind: PenaltyKind | None = None
    penalty_text: str | None = None
    decision_note: str | None = None
    letters: list[LetterRead] = Field(default_factory=list)
    appeals: list[AppealRead] = Field(default_factory=list)


class AccountabilityRead(BaseModel):
    incident_id: int
    number: str
    threshold: Decimal = Field(description="yuan: below it 综合部 approves, at or above it the GM")
    findings: list[FindingRead]
