from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from incident_cmd.statements.models import StatementStage, StatementStatus

TITLE_MAX = 200
TEXT_MAX = 4000
ADVICE_MAX = 2000


TitleText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)
]
StatementText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX)
]
AdviceText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ADVICE_MAX)
]


class _Texts(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def by_locale(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)


class Title(_Texts):
    zh_CN: TitleText = Field(alias="zh-CN")
    en: TitleText


class Text(_Texts):
    zh_CN: StatementText = Field(alias="zh-CN")
    en: StatementText


class Advice(_Texts):
    """What a customer should do; both languages, or neither."""

    zh_CN: AdviceText = Field(alias="zh-CN")
    en: AdviceText


class StatementDraft(BaseModel):
    """A statement in both languages. Left out, the title is the playbook's name and the
    products in scope, and the text the playbook's status template for the stage."""

    model_config = ConfigDict(extra="forbid")

    stage: StatementStage
    title: Title | None = None
    text: Text | None = None
    advice: Advice | None = None


class StatementCorrection(BaseModel):
    """A new version of a published statement; the stage and any text left out are the
    corrected statement's."""

    model_config = ConfigDict(extra="forbid")

    stage: StatementStage | None = None
    title: Title | None = None
    text: Text | None = None
    advice: Advice | None = None


class StatementRead(BaseModel):
    id: int
    incident_id: int
    stage: StatementStage
    status: StatementStatus
    version: int | None = Field(description="the published version's number, 1 first")
    title: dict[str, str]
    text: dict[str, str]
    advice: dict[str, str]
    template: str | None = Field(description="the playbook status template it was drafted from")
    corrects: int | None = Field(description="id of the published statement this one corrects")
    drafted_by: str
    drafted_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    published_by: str | None
    published_at: datetime | None
