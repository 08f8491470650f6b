"""The service-level file (``config/service-levels.yaml``): SLA targets per priority, the
business calendar, classification rules, assignment and follow-up. Strict like playbooks: an
unknown key or a bad value is an error naming the field."""

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from incident_cmd.config import (
    CLOCK_TIME,
    ConfigurationError,
    FileStamp,
    file_stamp,
    get_settings,
)
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.workdays import UNITS, parse_offset

Priority = Literal["urgent", "important", "routine", "consultation"]
PRIORITIES: tuple[str, ...] = ("urgent", "important", "routine", "consultation")
Category = Literal[
    "product_quality", "technical", "logistics", "usage", "service_attitude", "after_sales", "other"
]
CATEGORIES: tuple[str, ...] = (
    "product_quality",
    "technical",
    "logistics",
    "usage",
    "service_attitude",
    "after_sales",
    "other",
)


def _duration(value: str) -> str:
    _, unit = parse_offset(value)
    if unit == "wd":
        raise ValueError("write working time as business hours (clock: business), e.g. 9h")
    return value


Duration = Annotated[str, AfterValidator(_duration)]


def _working_days(value: str) -> str:
    _, unit = parse_offset(value)
    if unit != "wd":
        raise ValueError("write this in working days, e.g. 3wd")
    return value


WorkingDays = Annotated[str, AfterValidator(_working_days)]


def seconds(value: str) -> float:
    amount, unit = parse_offset(value)
    return timedelta(**{UNITS[unit]: amount}).total_seconds()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(Strict):
    within: Duration
    clock: Literal["calendar", "business"] = "calendar"

    @property
    def seconds(self) -> float:
        return seconds(self.within)


class Tier(Strict):
    respond: Target
    resolve: Target


class WorkingHours(Strict):
    start: str = Field(pattern=CLOCK_TIME)
    end: str = Field(pattern=CLOCK_TIME)

    @property
    def minutes(self) -> int:
        """The length of a working day."""
        (start_hour, start_minute), (end_hour, end_minute) = (
            map(int, moment.split(":")) for moment in (self.start, self.end)
        )
        return (end_hour - start_hour) * 60 + end_minute - start_minute

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> "WorkingHours":
        if self.minutes <= 0:
            raise ValueError(f"end ({self.end}) must be later than start ({self.start})")
        return self


class HandlingPlan(Strict):
    categories: list[Category]
    within: Target


class Verification(Strict):
    """The initial verification of what the customer says, within working days of intake on
    the organisation's holiday calendar."""

    within: WorkingDays


class Appeals(Strict):
    """A customer unhappy with the result appeals (seeds 001 六, 申诉处理流程): the appeal is
    registered, a designated person of ``team`` investigates and answers, and the answer
    tells the customer where to go if still unhappy (``regulator_route``, per language).
    ``window``, when set, is how long after the result an appeal is still taken; unset (the
    default) no appeal is refused for its lateness, since the seeds set no such limit."""

    team: str = Field(min_length=1)
    respond: Target
    answer_within: WorkingDays
    window: Duration | None = None
    regulator_route: dict[Locale, str]

    @model_validator(mode="after")
    def _every_language(self) -> "Appeals":
        missing = [locale.value for locale in LOCALES if not self.regulator_route.get(locale)]
        if missing:
            raise ValueError(f"regulator_route: give the text in {', '.join(missing)}")
        return self


class Callback(Strict):
    key: str
    who: Literal["assignee", "supervisor", "duty_manager"]
    within: Duration


class MonthlyReview(Strict):
    """001 4-1-7 「每月10日前汇总上月结案的《顾客投诉处理意见书》」: the review of the month before
    reaches the management list by this day of the month, at this local time, unless its
    reviewer sends it earlier. ``recipients`` are usernames; none named means every active
    admin and duty manager."""

    send_by_day: int = Field(default=10, ge=1, le=28)
    send_at: str = Field(default="09:00", pattern=CLOCK_TIME)
    recipients: list[str] = Field(default_factory=list)


class Assignment(Strict):
    strategy: Literal["least_loaded", "round_robin"] = "least_loaded"
    default_team: str
    teams: dict[Category, str] = Field(default_factory=dict)

    def team_for(self, category: Category) -> str:
        return self.teams.get(category, self.default_team)


class Rule(Strict):
    """Matches when every condition it names holds: any keyword in the description, the
    intake channel, what the customer asks for."""

    keywords: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    requested: list[str] = Field(default_factory=list)
    priority: Priority | None = None
    category: Category | None = None
    safety: bool = False

    @model_validator(mode="after")
    def _has_a_condition(self) -> "Rule":
        if not (self.keywords or self.channels or self.requested):
            raise ValueError("a rule needs keywords, channels or requested")
        if not (self.priority or self.category or self.safety):
            raise ValueError("a rule must set priority, category or safety")
        return self

    def matches(self, description: str, channel: str, requested: str) -> bool:
        lowered = description.lower()
        return (
            (not self.keywords or any(word.lower() in lowered for word in self.keywords))
            and (not self.channels or channel in self.channels)
            and (not self.requested or requested in self.requested)
        )


class ServiceLevels(Strict):
    timezone: str
    holiday_country: str
    working_hours: WorkingHours
    warn_at: float = Field(default=0.8, gt=0, lt=1)
    priorities: dict[Priority, Tier]
    respond_at_latest: Duration
    close_within: Target
    verification: Verification
    handling_plan: HandlingPlan
    reopen_within: Duration
    appeals: Appeals
    survey_after: Duration
    callbacks: list[Callback]
    monthly_review: MonthlyReview = Field(default_factory=MonthlyReview)
    assignment: Assignment
    classification: list[Rule] = Field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def tier(self, priority: Priority) -> Tier:
        return self.priorities[priority]

    def working_days(self, within: str) -> Target:
        """``within`` working days as that many days of working hours on the business clock:
        due at the same time of day that many working days on."""
        days, _ = parse_offset(within)
        return Target(within=f"{days * self.working_hours.minutes}m", clock="business")

    @property
    def verification_target(self) -> Target:
        return self.working_days(self.verification.within)

    @property
    def appeal_answer_target(self) -> Target:
        return self.working_days(self.appeals.answer_within)

    @model_validator(mode="after")
    def _responses_within_the_ceiling(self) -> "ServiceLevels":
        # A business-clock target is capped when it is due (see sla.start_timer); a calendar
        # one longer than the ceiling could never apply.
        ceiling = seconds(self.respond_at_latest)
        for priority, tier in self.priorities.items():
            if tier.respond.clock == "calendar" and tier.respond.seconds > ceiling:
                raise ValueError(
                    f"priorities.{priority}.respond.within: {tier.respond.within} is later "
                    f"than respond_at_latest ({self.respond_at_latest})"
                )
        return self


def parse(text: str, source: str) -> ServiceLevels:
    try:
        data = yaml.safe_load(text)
        levels = ServiceLevels.model_validate(data)
        missing = set(PRIORITIES) - set(levels.priorities)
        if missing:
            raise ConfigurationError(f"{source}: priorities: missing {', '.join(sorted(missing))}")
        levels.zone  # noqa: B018 (an unknown zone fails here, at load)
        return levels
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"{source}: {problems}") from None
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(f"{source}: {exc}") from None


@lru_cache(maxsize=4)
def _load(path: Path, stamp: FileStamp) -> ServiceLevels:
    return parse(path.read_text(encoding="utf-8"), str(path))


def service_levels() -> ServiceLevels:
    """The organisation's file, read again when it changes."""
    path = Path(get_settings().service_levels_file)
    return _load(path, file_stamp(path, "service-level file"))
