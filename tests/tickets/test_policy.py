"""The service-level file: classification rules, and errors that name the field."""

import pytest

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import PROJECT_ROOT, ConfigurationError
from incident_cmd.teams import service as team_service
from incident_cmd.tickets import access, intake, policy
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
        (ticket("The air purifier won't connect to wifi"), ("technical", "important", False)),
        (ticket("固件升级失败后死机了"), ("technical", "important", False)),
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
            "classification.6",
        ),
        (
            ("respond: {within: 8h, clock: calendar}", "respond: {within: 25h, clock: calendar}"),
            "priorities.routine.respond.within",
        ),
        (("respond_at_latest: 24h", "respond_at_latest: 1wd"), "respond_at_latest"),
        (("respond_at_latest: 24h\n", ""), "respond_at_latest"),
        (("verification: {within: 3wd}", "verification: {within: 72h}"), "verification.within"),
    ],
)
def test_a_bad_file_is_refused_naming_the_field(change, named):
    old, new = change
    assert old in SHIPPED
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")):
        policy.parse(SHIPPED.replace(old, new, 1), "service-levels.yaml")


def _comment(priority: str, target: str) -> tuple[str, str]:
    """The value and the comment of a priority's respond or resolve line in the shipped file."""
    lines = SHIPPED.splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"  {priority}:")))
    line = next(line for line in lines[start + 1 :] if line.strip().startswith(f"{target}:"))
    value, _, comment = line.partition("#")
    return value.strip(), comment


@pytest.mark.parametrize(
    ("priority", "target", "within", "sources"),
    [
        ("urgent", "respond", "30m", ["003", "30分钟", "stricter", "004", "2小时"]),
        ("urgent", "resolve", "24h", ["004", "24小时"]),
        ("important", "respond", "2h", ["003", "一般类", "2小时", "stricter", "004", "4小时"]),
        ("important", "resolve", "48h", ["004", "48小时"]),
        ("routine", "respond", "8h", ["004", "8小时", "clock hours"]),
        ("routine", "resolve", "72h", ["004", "72小时"]),
        ("consultation", "respond", "1h", ["003", "1小时"]),
        ("consultation", "resolve", "72h", ["no seed"]),
    ],
)
def test_each_shipped_target_follows_the_seed_it_cites(levels, priority, target, within, sources):
    shipped = getattr(levels.tier(priority), target)
    assert (shipped.within, shipped.clock) == (within, "calendar")
    value, comment = _comment(priority, target)
    assert value == f"{target}: {{within: {within}, clock: calendar}}"
    for source in sources:
        assert source in comment, f"{priority}.{target} does not cite {source!r}"


def test_the_ceiling_verification_and_plan_follow_seed_001(levels):
    assert (levels.respond_at_latest, levels.verification.within) == ("24h", "3wd")
    assert levels.handling_plan.within.within == "9h"
    assert levels.close_within.within == "14d"
    for phrase in ("最迟不超过24小时", "3个工作日内进行初步核实", "一个工作日内", "14天内结案"):
        assert phrase in SHIPPED


@pytest.mark.parametrize(
    ("category", "team"),
    [
        ("technical", "technical-support"),  # 002 技术问题:由技术支持部门负责
        ("product_quality", "quality"),  # 002 产品问题:由质量管理部门负责
        ("service_attitude", "customer-service"),  # 002 服务问题:由客户服务部门负责
        ("logistics", "customer-service"),
        ("other", "customer-service"),
    ],
)
def test_the_shipped_file_routes_categories_as_seed_002(levels, category, team):
    assert levels.assignment.team_for(category) == team


@pytest.mark.parametrize(
    ("description", "team", "agent"),
    [
        ("扫地机器人连不上wifi,APP一直提示错误代码E21", "technical-support", "agent.tang"),
        ("电饭煲用了两周内胆涂层脱落,按键坏了", "quality", "agent.feng"),
        ("快递三天了还没收到", "customer-service", "agent.sun"),
    ],
)
def test_the_demo_organisation_works_each_complaint_in_its_team(
    demo_org, shipped_playbooks, description, team, agent
):
    taken = intake.take_in(
        demo_org,
        data=ticket(description),
        actor=auth_service.get_user_by_username(demo_org, username="agent.sun"),
        registry=shipped_playbooks,
    )
    demo_org.flush()
    assert taken.team_key == team
    assert demo_org.get(User, taken.assignee_id).username == agent
    lead = demo_org.get(User, team_service.get_team(demo_org, key=team).lead_user_id)
    assert access.is_supervisor(demo_org, ticket=taken, actor=lead)
