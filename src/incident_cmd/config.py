"""Settings, read once from the environment (prefix ``INCIDENT_CMD_``) or a ``.env`` file."""

import ipaddress
import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from incident_cmd.i18n import Locale

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The value earlier versions shipped as a default: refused wherever it could be shared.
DEVELOPMENT_SECRET = "dev-only-insecure-secret-change-me"
MINIMUM_SECRET_BYTES = 32
GENERATED_SECRET_FILE = "secret_key"
CLOCK_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"  # HH:MM, 24-hour


class ConfigurationError(Exception):
    """A setting that would make the product unsafe or unusable where it is about to run."""


FileStamp = tuple[int, int]


def file_stamp(path: Path, what: str) -> FileStamp:
    """When the file was last written and its size: configuration read from a file is read
    again only once this changes (a sweep may ask for it every few seconds)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: {what} not found") from None
    return status.st_mtime_ns, status.st_size


def directory_stamp(directory: Path) -> tuple[tuple[str, FileStamp], ...]:
    """``file_stamp`` of every file under the directory: changes when one is added, removed
    or edited."""
    stamps = []
    for path in sorted(directory.rglob("*")):
        try:
            status = path.stat()
        except FileNotFoundError:  # removed while listed: its absence is the change
            continue
        if not path.is_dir():
            stamps.append((str(path), (status.st_mtime_ns, status.st_size)))
    return tuple(stamps)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENT_CMD_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'incident_cmd.db'}",
        description="SQLAlchemy URL; sqlite:///path (embedded) or postgresql+psycopg://...",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs links, cookies and form tokens; at least 32 bytes. When empty and "
        "the public URL is loopback, one is generated and kept in the data folder.",
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / "var",
        description="where the embedded default keeps what it generates (the secret key)",
    )
    public_base_url: str = "http://127.0.0.1:8000"
    organisation_name: str = "Demo Appliances Co."
    default_timezone: str = "Asia/Shanghai"
    default_locale: Locale = Locale.zh_CN
    default_phone_region: str = "CN"
    holiday_country: str = Field(default="CN", description="ISO country for working-day rules")
    playbook_dir: Path = PROJECT_ROOT / "playbooks"
    drill_dir: Path = PROJECT_ROOT / "drills"
    # No Chinese number range is reserved for fiction: a drill's made-up customers get numbers
    # from this prefix (three digits appended, a valid number), and nothing is ever sent to
    # them but through the sink channel.
    drill_phone_prefix: str = "+8617000000"
    template_dir: Path = PROJECT_ROOT / "templates"
    service_levels_file: Path = PROJECT_ROOT / "config" / "service-levels.yaml"
    report_font: Path | None = Field(
        default=None,
        description="the font file that draws Chinese in PDF reports; default: fontconfig's "
        "match for Chinese (fc-match :lang=zh-cn)",
    )
    accountability_file: Path = PROJECT_ROOT / "config" / "accountability.yaml"

    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_sender: str = Field(default="", description="E.164 number or Messaging Service SID")
    twilio_api_base: str = "https://api.twilio.com"

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_sender: str = "incident-cmd@localhost"

    quiet_hours_start: str = Field(default="21:00", pattern=CLOCK_TIME)
    quiet_hours_end: str = Field(default="08:00", pattern=CLOCK_TIME)
    send_rate_per_second: float = Field(
        default=100.0, ge=0, description="messages per second per sender; 0 = no limit"
    )
    dispatch_batch_size: int = Field(default=500, ge=1)
    dispatch_max_in_flight: int = Field(default=200, ge=1)
    dispatch_max_attempts: int = Field(default=6, ge=1)
    dispatch_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="how long a claimed message may take before another "
        "worker treats its sender as dead and reconciles it",
    )
    twilio_timeout_seconds: float = Field(default=10.0, gt=0)
    sms_price_per_segment: float = 0.0079
    sms_price_currency: str = "USD"
    sms_help_text: str = "Reply STOP to opt out, START to opt back in. Help: call our hotline."

    page_link_valid_minutes: int = Field(
        default=720, ge=5, description="how long the acknowledge link in a page works"
    )
    page_poll_seconds: float = Field(
        default=0.1, gt=0, description="how often the paging lane looks for due pages"
    )

    run_worker_in_process: bool | None = Field(
        default=None,
        description="serve runs the sweeps in-process; default: yes on SQLite, no on PostgreSQL",
    )
    sweep_interval_seconds: float = 5.0
    login_token_hours: int = 12
    login_throttle_per_username: str = Field(
        default="5 per 15 minutes", description="failed logins allowed per username"
    )
    login_throttle_per_address: str = Field(
        default="30 per 15 minutes", description="failed logins allowed per client address"
    )
    login_throttle_storage: str = Field(
        default="memory://",
        description="a `limits` storage URI; redis://host:6379 to share counts between processes",
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id passes per hash")
    argon2_memory_kib: int = Field(default=65536, ge=64, description="argon2id memory per hash")

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    def check_deployable(self) -> None:
        """Anyone who knows or guesses the secret can forge acknowledgement, unsubscribe and
        session links: wherever the product is reachable beyond this machine, it must be a
        long secret of the operator's own, whatever the database."""
        if self.public_base_url_is_loopback:
            return
        secret = self.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET:
            problem = "is the old development default"
        elif len(secret.encode()) < MINIMUM_SECRET_BYTES:
            problem = "is empty" if not secret else f"is {len(secret.encode())} bytes"
        else:
            return
        raise ConfigurationError(
            f"INCIDENT_CMD_SECRET_KEY {problem}; with INCIDENT_CMD_PUBLIC_BASE_URL "
            f"{self.public_base_url} it must be a random value of at least "
            f"{MINIMUM_SECRET_BYTES} bytes (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )

    @cached_property
    def signing_key(self) -> str:
        """The configured secret, or on loopback one generated once and kept in the data
        folder, so that links and sessions survive a restart."""
        self.check_deployable()
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured
        path = self.data_dir / GENERATED_SECRET_FILE
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and linked into place: a process starting alongside never reads a
        # half-written file, and whichever links first wins.
        draft = path.with_name(f".{GENERATED_SECRET_FILE}.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return path.read_text().strip()

    @property
    def public_base_url_is_loopback(self) -> bool:
        host = urlsplit(self.public_base_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def worker_in_process(self) -> bool:
        if self.run_worker_in_process is None:
            return self.is_sqlite
        return self.run_worker_in_process


@lru_cache
def get_settings() -> Settings:
    return Settings()
