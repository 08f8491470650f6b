"""The secret that signs links, cookies and form tokens: refused where it could be guessed,
generated and kept where the product only listens on this machine."""

import stat

import pytest
from typer.testing import CliRunner

from incident_cmd.cli import app as cli
from incident_cmd.config import DEVELOPMENT_SECRET, ConfigurationError, Settings, get_settings

PUBLIC = "https://incident.example.com"
LONG = "k" * 32


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (DEVELOPMENT_SECRET, "old development default"),
        ("", "is empty"),
        ("k" * 31, "is 31 bytes"),
        ("密" * 10, "is 30 bytes"),
    ],
)
@pytest.mark.parametrize(
    "database", ["sqlite:///var/x.db", "postgresql+psycopg://app@db.internal/incident_cmd"]
)
def test_a_weak_secret_is_refused_beyond_loopback_on_any_database(secret, problem, database):
    settings = Settings(secret_key=secret, public_base_url=PUBLIC, database_url=database)
    with pytest.raises(ConfigurationError, match=problem):
        settings.check_deployable()
    with pytest.raises(ConfigurationError, match="INCIDENT_CMD_SECRET_KEY"):
        _ = settings.signing_key


def test_a_long_secret_is_accepted_beyond_loopback():
    settings = Settings(secret_key=LONG, public_base_url=PUBLIC)
    settings.check_deployable()
    assert settings.signing_key == LONG


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "http://127.8.0.2"],
)
def test_loopback_generates_a_secret_once_and_keeps_it(tmp_path, url):
    first = Settings(secret_key="", public_base_url=url, data_dir=tmp_path / "data")
    first.check_deployable()
    key = first.signing_key
    assert len(key) >= 32 and key != DEVELOPMENT_SECRET
    stored = tmp_path / "data" / "secret_key"
    assert stored.read_text() == key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    again = Settings(secret_key="", public_base_url=url, data_dir=tmp_path / "data")
    assert again.signing_key == key
    assert list((tmp_path / "data").iterdir()) == [stored]


def test_a_host_that_only_looks_local_is_not_loopback():
    for url in ("http://127.0.0.1.example.com", "http://localhost.example.com", "http://10.0.0.1"):
        with pytest.raises(ConfigurationError):
            Settings(secret_key="", public_base_url=url).check_deployable()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_server_and_worker_refuse_to_start_with_a_short_secret(monkeypatch, command):
    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("INCIDENT_CMD_SECRET_KEY", "short")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, [command])
    assert result.exit_code == 1
    assert "INCIDENT_CMD_SECRET_KEY is 5 bytes" in result.output
    assert "Traceback" not in result.output
