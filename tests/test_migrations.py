import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel
from typer.testing import CliRunner

import incident_cmd.models  # noqa: F401
from incident_cmd import db, migrate
from incident_cmd.cli import app as cli
from incident_cmd.config import get_settings


def test_migrations_produce_exactly_the_models(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_database_behind_is_refused_until_upgraded(empty_database, monkeypatch):
    with pytest.raises(migrate.SchemaBehind, match="run 'incident-cmd db upgrade'"):
        migrate.ensure_current(empty_database.engine)
    monkeypatch.setenv("INCIDENT_CMD_DATABASE_URL", empty_database.url)
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    runner = CliRunner()
    for command in (["serve"], ["worker"], ["db", "status"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 1, command
        assert "Traceback" not in result.output
    assert "has no schema" in runner.invoke(cli, ["serve"]).output
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    migrate.ensure_current(db.get_engine())
    assert runner.invoke(cli, ["db", "status"]).exit_code == 0
