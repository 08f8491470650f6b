"""Alembic, driven from code: the CLI's ``db upgrade`` and the start-up check use this."""

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from incident_cmd.config import PROJECT_ROOT


class SchemaBehind(Exception):
    pass


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(the database's revision, the code's head revision)."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, script.get_current_head()


def ensure_current(engine: Engine) -> None:
    current, head = revisions(engine)
    if current != head:
        state = "has no schema" if current is None else f"is at revision {current}"
        raise SchemaBehind(
            f"the database {engine.url.render_as_string(hide_password=True)} {state}, "
            f"the code needs {head}: run 'incident-cmd db upgrade'"
        )
