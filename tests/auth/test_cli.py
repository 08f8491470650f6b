"""The `user` and `token` commands end sessions the way the API does."""

from typer.testing import CliRunner

from incident_cmd.cli import app as cli

runner = CliRunner()


def test_user_password_revokes_the_users_tokens(use_database, client_factory):
    assert runner.invoke(cli, ["user", "add", "cli.pw", "--role", "agent"]).exit_code == 0
    token = runner.invoke(cli, ["token", "issue", "cli.pw"]).stdout.strip()
    client = client_factory()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    result = runner.invoke(
        cli, ["user", "password", "cli.pw", "--password", "a fresh long password"]
    )
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    login = client.post(
        "/api/v1/auth/login", json={"username": "cli.pw", "password": "a fresh long password"}
    )
    assert login.status_code == 201
