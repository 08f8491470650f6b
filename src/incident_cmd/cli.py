"""The ``incident-cmd`` command line. User mistakes print one line and exit non-zero."""

import functools
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from incident_cmd import aio, clock, migrate
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.auth.schemas import UserCreate
from incident_cmd.config import ConfigurationError, get_settings
from incident_cmd.db import get_engine, session_scope
from incident_cmd.errors import DomainError
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.playbooks.loader import PlaybookInvalid, load_file
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.teams import service as team_service
from incident_cmd.tickets.models import TicketStatus

app = typer.Typer(
    help="incident_cmd: crisis and incident response for customer service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
team_app = typer.Typer(help="Teams and on-call rotations.", no_args_is_help=True)
playbook_app = typer.Typer(help="Playbooks.", no_args_is_help=True)
incident_app = typer.Typer(help="Incidents.", no_args_is_help=True)
customers_app = typer.Typer(help="The customer directory.", no_args_is_help=True)
campaign_app = typer.Typer(help="Customer notification campaigns.", no_args_is_help=True)
ticket_app = typer.Typer(help="The complaint queue.", no_args_is_help=True)
review_app = typer.Typer(help="Reviews.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (user_app, "user"),
    (token_app, "token"),
    (team_app, "team"),
    (playbook_app, "playbook"),
    (customers_app, "customers"),
    (campaign_app, "campaign"),
    (incident_app, "incident"),
    (ticket_app, "ticket"),
    (review_app, "review"),
):
    app.add_typer(sub, name=name)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return f"{field}: {first['msg']}" if field else first["msg"]


def friendly(command: F) -> F:
    """Turns the errors a user can cause into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            raise fail(str(exc)) from None
        except ValidationError as exc:
            raise fail(_validation_message(exc)) from None
        except (migrate.SchemaBehind, PlaybookInvalid, ConfigurationError) as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API and pages (and, on SQLite, the background sweeps in-process)."""
    import uvicorn

    from incident_cmd.auth.throttle import LoginThrottle
    from incident_cmd.web.security import uvicorn_log_config

    get_settings().check_deployable()
    migrate.ensure_current(get_engine())
    PlaybookRegistry.from_settings()
    LoginThrottle.from_settings()
    uvicorn.run(
        "incident_cmd.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # Signed links carry their token in the path: the access log shows it redacted.
        log_config=uvicorn_log_config(),
    )


@app.command()
@friendly
def worker() -> None:
    """Run the background sweeps (paging, deliveries, SLA timers, overdue tasks)."""
    import asyncio
    import logging

    from incident_cmd.scheduler import start_background

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The twilio library logs every request and its headers at INFO.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    get_settings().check_deployable()
    migrate.ensure_current(get_engine())

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        background = start_background(loop, direct_process=True)
        await stopping.wait()
        # Sends under way finish and are recorded before the process exits.
        await background.stop()

    aio.run(run())


@db_app.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    engine = get_engine()
    migrate.upgrade(engine)
    current, _ = migrate.revisions(engine)
    typer.echo(f"database at revision {current}")


@db_app.command("status")
@friendly
def db_status() -> None:
    """Show the database's revision and the code's."""
    current, head = migrate.revisions(get_engine())
    typer.echo(f"database: {current or 'empty'}  code: {head}")
    if current != head:
        raise typer.Exit(1)


@user_app.command("add")
@friendly
def user_add(
    username: str,
    role: Annotated[
        Role, typer.Option(help="admin, duty_manager, responder, agent, comms, viewer")
    ],
    display_name: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[
        str | None, typer.Option(help="E.164, or national in the default region")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone")] = None,
    locale: Annotated[str | None, typer.Option(help="zh-CN or en")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read a password from stdin")] = False,
) -> None:
    """Create a user."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    data = UserCreate(
        username=username,
        role=role,
        display_name=display_name,
        email=email,
        phone=phone,
        timezone=timezone,
        locale=locale,
        password=password,
    )
    with session_scope() as session:
        user = auth_service.create_user(session, data=data, actor_id=None)
        typer.echo(f"created {user.username} ({user.role})")


@user_app.command("password")
@friendly
def user_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a user's password (prompts, or reads --password); revokes all the user's tokens."""
    with session_scope() as session:
        user = auth_service.get_user_by_username(session, username=username)
        auth_service.set_password(session, user=user, password=password, actor_id=None)
    typer.echo(f"password set for {username}")


@user_app.command("list")
@friendly
def user_list() -> None:
    """List users."""
    with session_scope() as session:
        for user in auth_service.list_users(session):
            state = "" if user.active else "  (deactivated)"
            contact = f"{user.email or '-':30} {user.phone or '-'}"
            typer.echo(f"{user.username:20} {user.role:13} {contact}{state}")


@token_app.command("issue")
@friendly
def token_issue(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    expires_hours: Annotated[int | None, typer.Option(help="Lifetime; none by default")] = None,
) -> None:
    """Issue an API token; prints the token alone (it is not shown again)."""
    with session_scope() as session:
        user = auth_service.get_user_by_username(session, username=username)
        expires = timedelta(hours=expires_hours) if expires_hours else None
        _, secret = auth_service.issue_token(
            session, user=user, name=name, expires_in=expires, actor_id=None
        )
    typer.echo(secret)


@token_app.command("revoke")
@friendly
def token_revoke(token_id: int, username: Annotated[str, typer.Option("--as")] = "admin") -> None:
    """Revoke a token by id (as an admin or its owner)."""
    with session_scope() as session:
        actor = auth_service.get_user_by_username(session, username=username)
        token = auth_service.revoke_token(session, token_id=token_id, actor=actor)
    typer.echo(f"revoked token {token.id} ({token.prefix}…)")


@team_app.command("list")
@friendly
def team_list() -> None:
    """List teams with their rotations."""
    with session_scope() as session:
        for team in team_service.list_teams(session):
            read = team_service.team_read(session, team)
            rotations = ", ".join(f"{r.name} ({r.shift}, {len(r.members)})" for r in read.rotations)
            typer.echo(f"{read.key:20} {read.name:30} {read.timezone:18} {rotations or '-'}")


@team_app.command("on-call")
@friendly
def team_on_call(
    key: str,
    at: Annotated[
        datetime | None,
        typer.Option(
            help="ISO time with offset; now if absent",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
        ),
    ] = None,
) -> None:
    """Who is on call for a team now (or --at a moment)."""
    moment = at or clock.now()
    if moment.tzinfo is None:
        raise fail("--at needs a UTC offset, for example 2026-11-22T09:00+08:00")
    with session_scope() as session:
        entries = team_service.on_call(session, team_key=key, at=moment)
        if not entries:
            typer.echo(f"nobody: team {key} has no rotation with members")
        for entry in entries:
            typer.echo(
                f"{entry.rotation.name:12} {entry.user.username:20} {entry.source:9} "
                f"until {entry.shift.end.isoformat()}"
            )


@playbook_app.command("list")
@friendly
def playbook_list() -> None:
    """List the playbooks the server would load."""
    for item in PlaybookRegistry.from_settings().all():
        playbook = item.playbook
        typer.echo(
            f"{playbook.key:28} {playbook.kind:22} {playbook.name.en} / {playbook.name.zh_CN}"
        )


@playbook_app.command("validate")
def playbook_validate(
    paths: Annotated[list[Path], typer.Argument(help="Playbook files or directories")],
) -> None:
    """Check playbook files; report every problem with file, line and field."""
    template_dir = get_settings().template_dir
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.y*ml")) if path.is_dir() else [path])
    problems = 0
    for path in files:
        try:
            load_file(path, template_dir)
        except PlaybookInvalid as exc:
            problems += len(exc.problems)
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
        else:
            typer.echo(f"{path}: ok")
    if problems:
        typer.echo(f"{problems} problem(s) in {len(files)} file(s)", err=True)
        raise typer.Exit(1)


@incident_app.command("declare")
@friendly
def incident_declare(
    playbook: Annotated[str, typer.Option(help="Playbook key")],
    title: Annotated[str, typer.Option()],
    severity: Annotated[str, typer.Option()],
    as_user: Annotated[str, typer.Option("--as", help="The duty manager declaring it")],
    product: Annotated[
        list[str] | None, typer.Option(help="Product model in scope (repeat)")
    ] = None,
    batch: Annotated[list[str] | None, typer.Option(help="Batch/lot in scope (repeat)")] = None,
    region: Annotated[list[str] | None, typer.Option(help="Region in scope (repeat)")] = None,
    drill: Annotated[bool, typer.Option(help="A training drill")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the incident as JSON")] = False,
) -> None:
    """Declare an incident from a playbook."""
    from incident_cmd.incidents.api import incident_read

    data = IncidentDeclare(
        playbook=playbook,
        title=title,
        severity=severity,
        scope=Scope(products=product or [], batches=batch or [], regions=region or []),
        drill=drill,
    )
    registry = PlaybookRegistry.from_settings()
    with session_scope() as session:
        actor = auth_service.get_user_by_username(session, username=as_user)
        if actor.role not in (Role.admin, Role.duty_manager):
            raise fail(f"{as_user} is a {actor.role}; only duty managers and admins declare")
        incident = incident_flows.declare(session, registry=registry, data=data, actor=actor)
        read = incident_read(session, incident, actor.locale)
    if as_json:
        typer.echo(read.model_dump_json(indent=2))
        return
    typer.echo(f"{read.number} declared: {read.title} [{read.severity}]")
    for seat in read.roster:
        typer.echo(f"  {seat.title:24} {seat.user or 'UNFILLED: ' + seat.note}")
    for task in read.tasks:
        typer.echo(f"  task {task.title} ({task.role}) due {task.due_at.isoformat()}")


@incident_app.command("list")
@friendly
def incident_list(
    status: Annotated[list[IncidentStatus] | None, typer.Option(help="Filter (repeat)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List incidents, newest first."""
    filters = incident_service.IncidentFilter(statuses=tuple(status or ()))
    with session_scope() as session:
        incidents = incident_service.list_incidents(
            session, filters=filters, limit=limit, before_id=None
        )
        for incident in incidents:
            drill = " DRILL" if incident.drill else ""
            typer.echo(
                f"{incident.number:14} {incident.status:10} {incident.severity:6} "
                f"{incident.title}{drill}"
            )


@ticket_app.command("create")
@friendly
def ticket_create(
    description: Annotated[str, typer.Option(help="What the customer says")],
    as_user: Annotated[str, typer.Option("--as", help="The agent taking it in")],
    phone: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option(help="Customer name")] = None,
    channel: Annotated[str, typer.Option(help="phone, email, web, sms, social, walk_in")] = "phone",
    category: Annotated[str | None, typer.Option(help="From the text if not given")] = None,
    priority: Annotated[str | None, typer.Option(help="From the text if not given")] = None,
    product: Annotated[str | None, typer.Option(help="Product model")] = None,
    batch: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    requested: Annotated[
        str, typer.Option(help="return, exchange, repair, refund, compensation, information")
    ] = "information",
) -> None:
    """Take a complaint in: numbered, classified, assigned and timed; prints its number."""
    from incident_cmd.tickets import intake as ticket_intake
    from incident_cmd.tickets.schemas import TicketCreate

    data = TicketCreate(
        description=description,
        phone=phone,
        email=email,
        customer_name=name,
        channel=channel,
        category=category,
        priority=priority,
        product_model=product,
        batch=batch,
        region=region,
        requested=requested,
    )
    registry = PlaybookRegistry.from_settings()
    with session_scope() as session:
        actor = auth_service.get_user_by_username(session, username=as_user)
        ticket = ticket_intake.take_in(session, data=data, actor=actor, registry=registry)
        assignee = session.get_one(User, ticket.assignee_id).username if ticket.assignee_id else "-"
        typer.echo(f"{ticket.number} {ticket.category} {ticket.priority} -> {assignee}")


@ticket_app.command("list")
@friendly
def ticket_list(
    status: Annotated[list[TicketStatus] | None, typer.Option(help="Filter (repeat)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """The queue, newest first."""
    from incident_cmd.tickets import queries as ticket_queries

    with session_scope() as session:
        filters = ticket_queries.QueueFilter(statuses=tuple(status or ()))
        for ticket in ticket_queries.queue(session, filters=filters, limit=limit, before_id=None):
            typer.echo(
                f"{ticket.number:18} {ticket.status:16} {ticket.priority:12} "
                f"{ticket.breach_state:9} {ticket.category}"
            )


@review_app.command("monthly")
@friendly
def review_monthly(
    period: Annotated[str, typer.Argument(help="YYYY-MM")],
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON")] = False,
) -> None:
    """The monthly complaint review, for the given month."""
    import json
    import re

    from incident_cmd.tickets import review

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise fail(f"period: {period!r} is not a month; write YYYY-MM")
    with session_scope() as session:
        report = review.monthly_review(session, period=period)
    typer.echo(
        review.as_csv(report) if as_csv else json.dumps(report, ensure_ascii=False, indent=2)
    )


@customers_app.command("import")
@friendly
def customers_import(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file, UTF-8")],
    show_rejects: Annotated[int, typer.Option(help="How many rejected rows to print")] = 50,
) -> None:
    """Import customers and purchases; bad rows are reported, good rows kept."""
    from incident_cmd.customers import service as customer_service

    with path.open("rb") as counting:
        total = max(sum(1 for _ in counting) - 1, 0)
    with (
        session_scope() as session,
        path.open(encoding="utf-8-sig", newline="") as stream,
        typer.progressbar(length=total, label="importing", file=sys.stderr) as bar,
    ):
        done = 0

        def after_chunk(rows: int) -> None:
            nonlocal done
            session.commit()
            bar.update(rows - done)
            done = rows

        report = customer_service.import_csv(session, stream=stream, after_chunk=after_chunk)
    typer.echo(
        f"{report.rows} rows: {report.customers_created} customers created, "
        f"{report.customers_updated} updated, {report.customers_unchanged} unchanged, "
        f"{report.purchases_added} purchases added, {report.rejected_total} rejected"
    )
    for reject in report.rejected[:show_rejects]:
        where = f" {reject.field}" if reject.field else ""
        typer.echo(f"  row {reject.row}{where}: {reject.reason}", err=True)


@campaign_app.command("retry-failed")
@friendly
def campaign_retry_failed(
    campaign_id: Annotated[int, typer.Argument(help="campaign id")],
    username: Annotated[str, typer.Option("--as", help="comms, duty manager or admin")],
    note: Annotated[str, typer.Option(help="why, for the timeline")] = "",
) -> None:
    """Send again the messages that failed before any provider took them (only those)."""
    from incident_cmd.campaigns import service as campaign_service

    with session_scope() as session:
        actor = auth_service.get_user_by_username(session, username=username)
        campaign = campaign_service.get_campaign(session, campaign_id=campaign_id)
        retried = campaign_service.retry_failed(session, campaign=campaign, actor=actor, note=note)
    typer.echo(f"campaign {campaign_id}: {retried} failed messages queued again")


@app.command("fake-twilio")
def fake_twilio(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8010,
    account_sid: Annotated[str, typer.Option(envvar="INCIDENT_CMD_TWILIO_ACCOUNT_SID")] = (
        "AC" + "0" * 32
    ),
    auth_token: Annotated[str, typer.Option(envvar="INCIDENT_CMD_TWILIO_AUTH_TOKEN")] = (
        "fake-token"
    ),
    latency_ms: Annotated[float, typer.Option(help="Added to every answer")] = 0.0,
    callbacks: Annotated[bool, typer.Option(help="Send signed status callbacks")] = True,
) -> None:
    """Run the local Twilio-compatible server (Messages and Calls, 2010-04-01)."""
    from incident_cmd.devtools.fake_twilio import FakeTwilio, serve

    typer.echo(f"fake Twilio on http://{host}:{port} for account {account_sid}")
    fake = FakeTwilio(
        account_sid=account_sid,
        auth_token=auth_token,
        latency=latency_ms / 1000,
        callbacks=callbacks,
    )
    serve(host, port, fake)


@app.command()
@friendly
def demo() -> None:
    """Seed a believable demo organisation (once; running again keeps what it made)."""
    from incident_cmd.demo import seed

    with session_scope() as session:
        report = seed(session)
    typer.echo(report)


if __name__ == "__main__":
    app()
