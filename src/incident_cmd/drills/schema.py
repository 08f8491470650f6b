"""The drill scenario file format (``drills/*.yaml``), after FEMA's HSEEP: an exercise of one
playbook, its objectives with measurable targets, and the master scenario events list (MSEL)
of injects at offsets from the start. Every model forbids unknown keys, so a typo is an error;
what refers to the playbook (its severities and roster roles) is checked by the loader."""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from incident_cmd.playbooks.schema import Bilingual, Key, Strict
from incident_cmd.tickets.schemas import Category


class ExerciseType(StrEnum):
    """HSEEP's kinds of exercise: discussed around a table, functions run from the command
    center without going to the field, or everything done for real but the customers."""

    tabletop = "tabletop"
    functional = "functional"
    full_scale = "full_scale"


class ObjectiveKind(StrEnum):
    """What the timeline can tell about an objective (scored later from the drill incident's
    timeline, against ``target_minutes`` from the start or from the inject named)."""

    commander_acknowledged = "commander_acknowledged"
    holding_statement_approved = "holding_statement_approved"
    customer_notice_approved = "customer_notice_approved"
    first_sitrep_on_time = "first_sitrep_on_time"
    complaint_wave_triaged = "complaint_wave_triaged"


Minutes = Annotated[int, Field(ge=0, le=7 * 24 * 60)]


class Objective(Strict):
    key: Key
    kind: ObjectiveKind
    description: Bilingual
    target_minutes: Minutes | None = Field(
        default=None, description="within this many minutes of the start (or of ``after``)"
    )
    after: Key | None = Field(default=None, description="counted from this inject firing")


class ScenarioScope(Strict):
    products: list[str] = Field(default_factory=list)
    batches: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)


class Participant(Strict):
    role: Key
    note: Bilingual | None = None


class Complaints(Strict):
    """``count`` synthetic complaints from the drill's customers, spread over ``over_minutes``."""

    type: Literal["complaints"]
    count: int = Field(ge=1, le=500)
    over_minutes: Minutes = 0
    category: Category
    product: str | None = Field(default=None, max_length=100)
    batch: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    texts: list[str] = Field(min_length=1, description="what the customers write, in turn")


class SmsReplies(Strict):
    """The drill's customers text back, one text each, in turn."""

    type: Literal["sms_replies"]
    texts: list[str] = Field(min_length=1, max_length=200)


class Inquiry(Strict):
    """A journalist or regulator asks: a task for the seat that speaks for the company."""

    type: Literal["inquiry"]
    source: Literal["journalist", "regulator"]
    who: str = Field(min_length=1, max_length=200)
    question: Bilingual
    role: Key
    due_minutes: int = Field(ge=1, le=7 * 24 * 60)


class FactsChange(Strict):
    """New facts: an internal update on the timeline, and the scope widened if they say so."""

    type: Literal["facts_change"]
    update: Bilingual
    add_scope: ScenarioScope = ScenarioScope()


class Unresponsive(Strict):
    """The holder of this seat stops answering: their page is not acknowledged, so it moves
    up its escalation chain as it would for someone who cannot be reached."""

    type: Literal["unresponsive"]
    role: Key


class Message(Strict):
    """A message to the participants only; it acts on nothing."""

    type: Literal["message"]
    text: Bilingual


Action = Annotated[
    Complaints | SmsReplies | Inquiry | FactsChange | Unresponsive | Message,
    Field(discriminator="type"),
]


class Inject(Strict):
    key: Key
    at: Minutes = Field(description="minutes from the start")
    description: Bilingual
    expected_action: Bilingual
    action: Action


class Cadence(Strict):
    """How often the scenario is exercised, for the calendar to schedule it by itself.

    Periods follow the calendar year: ``every_months: 6`` is January-June and July-December,
    and the drill falls in the ``month``-th month of each, on ``day`` at ``hour`` in the
    organisation's time zone (the first working day on or after it). The default is twice a
    year: the seeds ask for the plan to be rehearsed regularly (002 第七条 预案演练: 定期组织
    应急演练, 检验预案的有效性和可操作性) and put staff training at every half year (003
    员工能力的体系化建设: 老员工每半年参与专项培训, 新员工须通过模拟投诉考核)."""

    every_months: Literal[1, 2, 3, 4, 6, 12] = Field(
        default=6, description="months between drills; divides the year (6 = twice a year)"
    )
    month: int = Field(default=1, ge=1, le=12, description="which month of each period")
    day: int = Field(default=15, ge=1, le=28)
    hour: int = Field(default=10, ge=0, le=23)
    days_ahead: int = Field(
        default=30, ge=8, le=180, description="scheduled this many days before it falls"
    )
    controller: str | None = Field(
        default=None, max_length=64, description="username of the usual controller"
    )
    participants: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="usernames of the people it should train"
    )


class Scenario(Strict):
    key: Key
    name: Bilingual
    description: Bilingual
    exercise: ExerciseType
    playbook: Key
    severity: Key
    title: Bilingual
    scope: ScenarioScope = ScenarioScope()
    page_responders: bool = Field(
        description="page the roster for real (marked 【演练】/[DRILL]) or not at all"
    )
    customers: int = Field(ge=1, le=999, description="synthetic customers the drill makes")
    participants: list[Participant] = Field(min_length=1)
    objectives: list[Objective] = Field(min_length=1)
    injects: list[Inject] = Field(min_length=1)
    cadence: Cadence = Cadence()
