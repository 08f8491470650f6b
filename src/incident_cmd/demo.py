"""A believable demo organisation: people in every role, the emergency headquarters' teams and
their rotations. Seeding twice changes nothing."""

import io
import secrets
from datetime import timedelta

from sqlmodel import Session, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.auth.schemas import ContactStep, UserCreate
from incident_cmd.customers import service as customer_service
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import ShiftLength
from incident_cmd.teams.schemas import RotationCreate, TeamCreate

SMS_THEN_VOICE = [
    ContactStep(channel=ChannelName.sms, wait_minutes=0),
    ContactStep(channel=ChannelName.voice, wait_minutes=2),
    ContactStep(channel=ChannelName.email, wait_minutes=5),
]
EMAIL_ONLY = [ContactStep(channel=ChannelName.email)]

CHINESE, ENGLISH = Locale.zh_CN, Locale.en

# (username, display name, role, phone, locale, time zone)
PEOPLE = [
    ("admin", "系统管理员 Admin", Role.admin, "+8613800000001", CHINESE, "Asia/Shanghai"),
    ("duty", "值班经理 周敏", Role.duty_manager, "+8613800000002", CHINESE, "Asia/Shanghai"),
    ("gm.zhang", "总经理 张伟", Role.duty_manager, "+8613800000003", CHINESE, "Asia/Shanghai"),
    ("dgm.wang", "副总经理 王强", Role.duty_manager, "+8613800000005", CHINESE, "Asia/Shanghai"),
    ("dgm.chen", "副总经理 陈静", Role.duty_manager, "+8613800000006", CHINESE, "Asia/Shanghai"),
    ("cs.liu", "客服主管 刘洋", Role.responder, "+8613800000007", CHINESE, "Asia/Shanghai"),
    ("cs.zhao", "客服主管 赵磊", Role.responder, "+8613800000008", CHINESE, "Asia/Shanghai"),
    ("agent.sun", "客服 孙丽", Role.agent, "+8613800000009", CHINESE, "Asia/Shanghai"),
    ("agent.zhou", "客服 周杰", Role.agent, "+8613800000010", CHINESE, "Asia/Shanghai"),
    ("agent.wu", "客服 吴芳", Role.agent, "+8613800000011", CHINESE, "Asia/Shanghai"),
    ("agent.kelly", "Agent Kelly Moore", Role.agent, "+12125550123", ENGLISH, "America/New_York"),
    ("tech.huang", "技术支持 黄涛", Role.responder, "+8613800000012", CHINESE, "Asia/Shanghai"),
    ("tech.lin", "技术支持 林峰", Role.responder, "+8613800000013", CHINESE, "Asia/Shanghai"),
    ("qa.he", "质量经理 何琳", Role.responder, "+8613800000014", CHINESE, "Asia/Shanghai"),
    ("qa.guo", "质量工程师 郭明", Role.responder, "+8613800000015", CHINESE, "Asia/Shanghai"),
    ("agent.tang", "技术支持专员 唐磊", Role.agent, "+8613800000019", CHINESE, "Asia/Shanghai"),
    ("agent.feng", "质量投诉专员 冯雪", Role.agent, "+8613800000020", CHINESE, "Asia/Shanghai"),
    ("appeals.jiang", "申诉主管 蒋悦", Role.responder, "+8613800000021", CHINESE, "Asia/Shanghai"),
    ("appeals.qian", "申诉专员 钱程", Role.agent, "+8613800000022", CHINESE, "Asia/Shanghai"),
    ("comms.ma", "市场部 马超", Role.comms, "+8613800000016", CHINESE, "Asia/Shanghai"),
    ("comms.lee", "Comms Jamie Lee", Role.comms, "+12125550188", ENGLISH, "America/New_York"),
    ("hr.xu", "人力后勤 徐刚", Role.responder, "+8613800000017", CHINESE, "Asia/Shanghai"),
    ("fin.zhu", "财务 朱红", Role.responder, "+8613800000018", CHINESE, "Asia/Shanghai"),
    ("ga.song", "综合部经理 宋涛", Role.responder, "+8613800000023", CHINESE, "Asia/Shanghai"),
    ("ga.lu", "综合部专员 卢佳", Role.responder, "+8613800000024", CHINESE, "Asia/Shanghai"),
    ("viewer", "访客 Viewer", Role.viewer, None, ENGLISH, "Asia/Shanghai"),
]

DAILY, WEEKLY = ShiftLength.daily, ShiftLength.weekly

# (team key, name, lead, {rotation name: (shift, handoff, members)})
TEAMS = [
    (
        "executives",
        "应急指挥部 Emergency headquarters",
        "gm.zhang",
        {
            # 总经理担任总指挥: the one general manager is the commander.
            "commander": (WEEKLY, "09:00", ["gm.zhang"]),
            "deputy": (WEEKLY, "09:00", ["dgm.wang", "dgm.chen"]),
        },
    ),
    (
        "customer-service",
        "客户服务部 Customer service",
        "cs.liu",
        {
            "lead": (DAILY, "08:30", ["cs.liu", "cs.zhao"]),
            "agents": (DAILY, "08:30", ["agent.sun", "agent.zhou", "agent.wu", "agent.kelly"]),
        },
    ),
    (
        "technical-support",
        "技术支持部 Technical support",
        "tech.huang",
        {
            "primary": (DAILY, "09:00", ["tech.huang", "tech.lin"]),
            # Technical complaints are routed here (config/service-levels.yaml, seeds 002).
            "agents": (DAILY, "09:00", ["agent.tang"]),
        },
    ),
    (
        "quality",
        "质量管理部 Quality",
        "qa.he",
        {
            "primary": (WEEKLY, "09:00", ["qa.he", "qa.guo"]),
            # Product-quality complaints are routed here (config/service-levels.yaml, seeds 002).
            "agents": (DAILY, "09:00", ["agent.feng"]),
        },
    ),
    (
        # Seeds 001 六 「由专人负责调查核实」: appeals go to people who did not handle the
        # complaint (config/service-levels.yaml, appeals.team).
        "appeals",
        "申诉处理组 Appeals",
        "appeals.jiang",
        {
            "primary": (WEEKLY, "09:00", ["appeals.jiang", "appeals.qian"]),
        },
    ),
    (
        "communications",
        "市场部 Communications",
        "comms.ma",
        {
            "primary": (WEEKLY, "09:00", ["comms.ma", "comms.lee"]),
        },
    ),
    (
        "logistics",
        "人力资源与后勤 HR and logistics",
        "hr.xu",
        {
            "primary": (WEEKLY, "09:00", ["hr.xu"]),
        },
    ),
    (
        "finance",
        "财务部 Finance",
        "fin.zhu",
        {
            "primary": (WEEKLY, "09:00", ["fin.zhu"]),
        },
    ),
    (
        "duty-managers",
        "值班经理 Duty managers",
        "duty",
        {
            "primary": (DAILY, "09:00", ["duty", "dgm.wang"]),
        },
    ),
]

# Departments that hold an authority but take no on-call turns (config/accountability.yaml):
# (team key, name, lead, members).
AUTHORITY_TEAMS = [
    # Seed 001 4-3-2 综合部 「负责客户投诉案件的责任考核」; 6-4 approves penalties below 5,000.
    ("general-affairs", "综合部 General affairs", "ga.song", ["ga.song", "ga.lu"]),
    # 6-4 「5000元以上由总经理核准」, 6-3 the ruling on major cases: the one general manager.
    ("general-manager", "总经理 General manager", "gm.zhang", ["gm.zhang"]),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超"]
REGIONS = ["Guangdong", "Fujian", "Zhejiang", "Jiangsu", "Shanghai", "Beijing"]
PRODUCTS = [("PX-200", "B2026-11"), ("PX-200", "B2026-12"), ("RC-10", "B2026-09")]


def demo_customers_csv(count: int = 120) -> str:
    """Customers and their purchases, as a file the import would take."""
    lines = [
        "external_ref,name,phone,email,locale,timezone,region,product_model,batch,"
        "serial,purchase_date,sales_channel"
    ]
    for n in range(count):
        product, batch = PRODUCTS[n % len(PRODUCTS)]
        if n % 10 == 9:
            name, phone, locale = f"Customer {n}", f"+1212555{n:04d}", "en"
            zone, region = "America/New_York", "New York"
        else:
            name = SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)]
            phone, locale, zone = f"+86137{n:08d}", "zh-CN", "Asia/Shanghai"
            region = REGIONS[n % len(REGIONS)]
        lines.append(
            f"DEMO{n:05d},{name},{phone},demo{n}@customers.example.com,{locale},{zone},"
            f"{region},{product},{batch},SN{n:06d},2026-0{1 + n % 9}-15,"
            f"{['JD', 'Tmall', 'Store'][n % 3]}"
        )
    return "\n".join(lines) + "\n"


LOGIN_HINT = (
    "Open http://127.0.0.1:8000/ and log in, or get an API token with\n"
    "  incident-cmd token issue duty\n"
    "and call the API with 'Authorization: Bearer <token>' (docs at /docs)."
)


def seed(session: Session) -> str:
    if session.exec(select(User.id).where(User.username == "admin")).first():
        return (
            "Demo data already present; nothing changed. Passwords were printed on the first "
            "run; set a new one with 'incident-cmd user password NAME'.\n" + LOGIN_HINT
        )
    passwords: dict[str, str] = {}
    for username, display, role, phone, locale, zone in PEOPLE:
        passwords[username] = secrets.token_urlsafe(9)
        auth_service.create_user(
            session,
            data=UserCreate(
                username=username,
                display_name=display,
                role=role,
                email=f"{username}@demo.example.com",
                phone=phone,
                locale=locale,
                timezone=zone,
                contact_policy=SMS_THEN_VOICE if phone else EMAIL_ONLY,
                password=passwords[username],
            ),
            actor_id=None,
        )
    # Anchored a week back so that today's on-call person is somebody in the middle.
    anchor = (clock.now() - timedelta(days=7)).date()
    for key, name, lead, rotations in TEAMS:
        team = team_service.create_team(
            session, data=TeamCreate(key=key, name=name, lead=lead), actor_id=None
        )
        for rotation, (shift, handoff, members) in rotations.items():
            team_service.create_rotation(
                session,
                team=team,
                data=RotationCreate(
                    name=rotation,
                    shift=shift,
                    handoff_time=handoff,
                    anchor_date=anchor,
                    members=members,
                ),
                actor_id=None,
            )
    for key, name, lead, members in AUTHORITY_TEAMS:
        team_service.create_team(
            session, data=TeamCreate(key=key, name=name, lead=lead, members=members), actor_id=None
        )
    report = customer_service.import_csv(session, stream=io.StringIO(demo_customers_csv()))
    lines = [
        f"Demo organisation created with {report.customers_created} customers and "
        f"{report.purchases_added} purchases. Logins (shown once):"
    ]
    lines += [f"  {name:12} {passwords[name]:14} {role.value}" for name, _, role, *_ in PEOPLE]
    return "\n".join([*lines, LOGIN_HINT])
