import json

from typer.testing import CliRunner

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.cli import app as cli

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(cli, list(args), input=input)


def test_help_lists_every_command():
    result = run("--help")
    for command in ("serve", "worker", "db", "user", "token", "playbook", "incident", "demo"):
        assert command in result.stdout


def test_user_add_token_issue_and_use(use_database, client_factory):
    result = run(
        "user",
        "add",
        "wang.fang",
        "--role",
        "duty_manager",
        "--email",
        "wang@example.com",
        "--phone",
        "13800138000",
    )
    assert result.exit_code == 0, result.output
    issued = run("token", "issue", "wang.fang")
    assert issued.exit_code == 0
    token = issued.stdout.strip()
    assert token.startswith("icmd_") and "\n" not in token
    with db.session_scope() as session:
        user = auth_service.get_user_by_username(session, username="wang.fang")
        assert user.phone == "+8613800138000"
    client = client_factory()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "wang.fang"


def test_user_mistakes_print_one_line_and_exit_1(use_database):
    cases = [
        (["user", "add", "x.y", "--role", "agent", "--phone", "12"], "phone"),
        (["user", "add", "Bad Name", "--role", "agent"], "username"),
        (["token", "issue", "nobody"], "no user named 'nobody'"),
        (
            [
                "incident",
                "declare",
                "--playbook",
                "nope",
                "--title",
                "t",
                "--severity",
                "sev1",
                "--as",
                "nobody",
            ],
            "no user named 'nobody'",
        ),
    ]
    for args, expected in cases:
        result = run(*args)
        assert result.exit_code == 1, args
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.output
    duplicate = run("user", "add", "dup", "--role", "agent")
    assert duplicate.exit_code == 0
    assert run("user", "add", "dup", "--role", "agent").exit_code == 1
    bad_role = run("user", "add", "x.z", "--role", "overlord")
    assert bad_role.exit_code == 2


def test_password_from_stdin_allows_login(use_database, client_factory):
    result = run(
        "user",
        "add",
        "pw.cli",
        "--role",
        "agent",
        "--password-stdin",
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    response = client_factory().post(
        "/api/v1/auth/login", json={"username": "pw.cli", "password": "a long enough password"}
    )
    assert response.status_code == 201


def test_demo_then_declare_and_list(use_database):
    first = run("demo")
    assert first.exit_code == 0
    assert "Logins (shown once)" in first.stdout
    second = run("demo")
    assert "already present; nothing changed" in second.stdout
    users = run("user", "list").stdout
    for role in ("admin", "duty_manager", "responder", "agent", "comms", "viewer"):
        assert role in users
    assert "gm.zhang" in run("team", "on-call", "executives").stdout

    refused = run(
        "incident",
        "declare",
        "--playbook",
        "product-recall",
        "--title",
        "x",
        "--severity",
        "sev1",
        "--as",
        "duty",
    )
    assert refused.exit_code == 1
    assert "scope.products" in refused.stderr

    declared = run(
        "incident",
        "declare",
        "--playbook",
        "product-recall",
        "--title",
        "PX-200 overheating",
        "--severity",
        "sev1",
        "--batch",
        "B7",
        "--as",
        "duty",
        "--json",
    )
    assert declared.exit_code == 0, declared.output
    incident = json.loads(declared.stdout)
    assert incident["number"] == "INC-2026-0001"
    assert incident["scope"]["batches"] == ["B7"]
    not_allowed = run(
        "incident",
        "declare",
        "--playbook",
        "product-recall",
        "--title",
        "x",
        "--severity",
        "sev1",
        "--batch",
        "B7",
        "--as",
        "viewer",
    )
    assert not_allowed.exit_code == 1
    listed = run("incident", "list", "--status", "declared")
    assert "INC-2026-0001" in listed.stdout
    assert "PX-200 overheating" in listed.stdout
    assert run("incident", "list", "--status", "closed").stdout == ""


def test_playbook_list(use_database):
    result = run("playbook", "list")
    assert result.exit_code == 0
    assert "product-recall" in result.stdout
    assert "产品质量召回" in result.stdout
