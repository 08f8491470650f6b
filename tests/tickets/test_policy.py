"""The service-level file: classification rules, and errors that name the field."""

import pytest

from incident_cmd.config import PROJECT_ROOT, ConfigurationError
from incident_cmd.tickets import intake, policy
from incident_cmd.tickets.schemas import TicketCreate

SHIPPED = (PROJECT_ROOT / "config" / "service-levels.yaml").read_text(encoding="utf-8")


def ticket(description: str, **fields) -> TicketCreate:
    return TicketCreate(
        description=description, phone="13912345678", **{"channel": "phone", **fields}
    )


@pytest.fixture
def levels():
    return policy.parse(SHIPPED, "service-levels.yaml")


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (ticket("The heater started to SMOKE"), ("product_quality", "urgent", True)),
        (ticket("插座有点漏电"), ("product_quality", "urgent", True)),
        (ticket("parcel is late"), ("logistics", "routine", False)),
        (ticket("客服态度很粗鲁"), ("service_attitude", "important", False)),
        (ticket("how to descale the kettle"), ("usage", "consultation", False)),
        (ticket("parcel is late", channel="social"), ("logistics", "routine", False)),
        (ticket("nothing in particular", channel="social"), ("other", "important", False)),
        (ticket("I want my money back", requested="refund"), ("after_sales", "routine", False)),
        (ticket("冒烟", priority="routine", category="other"), ("other", "routine", True)),
        (ticket("hello"), ("other", "routine", False)),
    ],
)
def test_rules_set_category_priority_and_safety(levels, form, expected):
    found = intake.classify(levels, form)
    assert (found.category, found.priority, found.safety) == expected


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("warn_at: 0.8", "warn_at: 1.5"), "warn_at"),
        (
            ("respond: {within: 30m, clock: calendar}", "respond: {within: soon}"),
            "priorities.urgent.respond.within",
        ),
        (("clock: business}", "clock: lunar}"), "clock"),
        (("strategy: least_loaded", "strategy: random"), "assignment.strategy"),
        (("timezone: Asia/Shanghai", "timezone: Mars/Olympus"), "Mars/Olympus"),
        (("reopen_within: 7d", "reopen_within: 7d\nsurprise: 1"), "surprise"),
        (
            ("  - channels: [social]\n    priority: important", "  - channels: [social]"),
            "classification.5",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_field(change, named):
    old, new = change
    assert old in SHIPPED
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")):
        policy.parse(SHIPPED.replace(old, new, 1), "service-levels.yaml")
