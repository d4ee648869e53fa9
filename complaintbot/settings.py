"""Settings from the environment and `.env`. The names are a public interface: keep them."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from datetime import time, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.i18n import SUPPORTED_LOCALES
from channels import registry
from complaintbot.web_settings import WebSettings
from scheduler.calendar import parse_duration, parse_hours

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
# Digits, or digits in groups of three (a separator that is not one would hide a typo).
_CUSTOMERS = re.compile(r"[0-9]+|[0-9]{1,3}([, _])[0-9]{3}(?:\1[0-9]{3})*")


def _retention_days(value: object) -> int | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None  # unset: personal data is kept
    if not text.isdigit() or int(text) < 1:
        raise ValueError("must be a whole number of days, at least 1 (or unset to keep data)")
    return int(text)


# Days after archiving when a case's personal data is erased; None keeps it.
RetentionDays = Annotated[int | None, BeforeValidator(_retention_days)]


def _customer_count(value: object) -> int | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    customers = parse_customers(text)
    if customers is None:
        raise ValueError(
            f"{text!r} is not a number of customers: a whole number above 0, "
            "for example 1000000 (unset: no complaint rate)"
        )
    return customers


# The company's customers, for the report's complaint rate; None: stated missing.
CustomerCount = Annotated[int | None, BeforeValidator(_customer_count)]


def _give_up_after(value: object) -> timedelta:
    if isinstance(value, timedelta):
        duration = value
    else:
        try:
            parsed = parse_duration(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (examples: 30m, 24h, 3d)") from None
        if parsed.working:
            # Retries go on round the clock; working time would need the calendar.
            raise ValueError(f"{value!r} must be in s, m, h or d, not working time")
        duration = parsed.amount
    if duration <= timedelta(0):
        raise ValueError("must be longer than 0 (examples: 30m, 24h, 3d)")
    return duration


# How long the outbox retries a message before it gives up.
GiveUpAfter = Annotated[timedelta, BeforeValidator(_give_up_after)]


class SettingsError(Exception):
    """A setting is wrong; the message is one line that names the variable."""


class Settings(WebSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    DATABASE_URL: str = "sqlite+aiosqlite:///./complaintbot.db"
    DATA_DIR: Path = Path("./data")
    TELEGRAM_BOT_TOKEN: str | None = Field(default=None, repr=False)
    TELEGRAM_BASE_URL: str = "https://api.telegram.org/bot"
    TELEGRAM_BASE_FILE_URL: str = "https://api.telegram.org/file/bot"
    TELEGRAM_AGENT_CHAT_ID: int | None = None
    TELEGRAM_AGENT_IDS: str = ""
    TELEGRAM_SUPERVISOR_IDS: str = ""
    AGENT_DISPLAY_NAME: str = "number"
    TELEGRAM_MESSAGES_PER_SECOND: float = Field(default=30, gt=0)
    TELEGRAM_CHAT_MESSAGES_PER_SECOND: float = Field(default=1, gt=0)
    TELEGRAM_GROUP_MESSAGES_PER_MINUTE: float = Field(default=20, gt=0)
    TELEGRAM_CHAT_BURST: int = 3
    # How long a failing reply is retried before it is given up ("24h", SLA syntax).
    DELIVERY_GIVE_UP_AFTER: GiveUpAfter = timedelta(hours=24)
    CASE_PREFIX: str = "TS"
    TIMEZONE: str = "Asia/Shanghai"
    CALENDAR: str = "cn-workdays"
    WORKING_HOURS: str = "09:00-18:00"
    LUNCH_BREAK: str = ""
    CALENDAR_OVERRIDE_FILE: Path | None = None
    SLA_POLICY_FILE: Path | None = None
    SWEEP_INTERVAL_SECONDS: float = Field(default=15, gt=0)
    SURVEY_DELAY_SECONDS: int = Field(default=86400, ge=0)
    SURVEY_REMINDER_SECONDS: int = Field(default=172800, gt=0)
    AUTO_ARCHIVE_SECONDS: int = Field(default=604800, gt=0)
    SATISFIED_THRESHOLD: int = Field(default=4, ge=1, le=5)
    RETENTION_DAYS: RetentionDays = None
    CUSTOMER_COUNT: CustomerCount = None
    DEFAULT_LOCALE: str = "zh_CN"
    LOG_LEVEL: str = "INFO"
    IMAP_HOST: str | None = None  # the email channel is on when it is set
    IMAP_PORT: int = 993
    IMAP_USERNAME: str | None = None
    IMAP_PASSWORD: str | None = Field(default=None, repr=False)
    IMAP_SECURITY: str = "ssl"
    IMAP_MAILBOX: str = "INBOX"
    IMAP_POLL_SECONDS: float = 60.0
    IMAP_PROCESSED_FOLDER: str | None = None
    SMTP_HOST: str | None = None
    SMTP_PORT: int = 465
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = Field(default=None, repr=False)
    SMTP_SECURITY: str = "ssl"
    MAIL_FROM: str | None = None
    MAIL_AUTO_REPLY_LIMIT: int = 5
    # A mail's attachment larger than this is not fetched (the mail itself is kept).
    MAIL_MAX_ATTACHMENT_MB: int = 20
    SMTP_MESSAGES_PER_MINUTE: float = Field(default=60, gt=0)
    # How fast one complainant may write, on every channel (agents never limited); 0: off.
    INBOUND_MESSAGES_PER_MINUTE: int = 60
    INBOUND_BURST: int = 20
    # `complaintbot serve`: the ASGI server, webhooks, health, metrics, several workers.
    HOST: str = "127.0.0.1"
    PORT: int = 8080
    # The public HTTPS URL Telegram posts updates to; unset: `serve` polls instead.
    TELEGRAM_WEBHOOK_URL: str | None = None
    TELEGRAM_WEBHOOK_SECRET: str | None = Field(default=None, repr=False)
    # A bearer token `/metrics` asks for; unset: open (bind HOST to a private address).
    METRICS_TOKEN: str | None = Field(default=None, repr=False)
    LOG_FORMAT: str = "text"
    SHUTDOWN_GRACE_SECONDS: float = Field(default=20, ge=0)
    # This worker's name in logs, metrics and claims; unset: host name and process id.
    WORKER_ID: str | None = None
    # Addresses (comma-separated, or *) whose X-Forwarded-For / Forwarded are believed.
    TRUSTED_PROXIES: str = "127.0.0.1"
    # The staff web and API (`complaintbot serve`).
    STAFF_SESSION_HOURS: float = Field(default=8, gt=0)
    AUDIT_ANCHOR_DIR: Path | None = None

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError(f"not a database URL: {error}") from None
        if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB, "
                f"not {url.drivername}"
            )
        return value

    @field_validator("TELEGRAM_BOT_TOKEN")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not _TOKEN.match(value.strip()):
            raise ValueError("does not look like a bot token from @BotFather (digits:secret)")
        return value.strip()

    @field_validator("TELEGRAM_BASE_URL", "TELEGRAM_BASE_FILE_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("TELEGRAM_AGENT_IDS", "TELEGRAM_SUPERVISOR_IDS")
    @classmethod
    def _user_ids(cls, value: str) -> str:
        ids = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        wrong = [part for part in ids if not part.isdigit()]
        if wrong:
            raise ValueError(f"must be Telegram user ids separated by commas, not {wrong[0]!r}")
        return ",".join(ids)

    @field_validator("AGENT_DISPLAY_NAME")
    @classmethod
    def _display(cls, value: str) -> str:
        if value.lower() not in ("number", "real"):
            raise ValueError("must be number (客服 No. N) or real (the agent's Telegram name)")
        return value.lower()

    @field_validator("CASE_PREFIX")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", value):
            raise ValueError("must be 1-10 capital letters or digits, starting with a letter")
        return value

    @field_validator("TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (example: Asia/Shanghai)") from None
        return value

    @field_validator("CALENDAR")
    @classmethod
    def _calendar(cls, value: str) -> str:
        if value.strip().lower() not in ("cn-workdays", "24x7"):
            raise ValueError("must be cn-workdays (Chinese working days and hours) or 24x7")
        return value.strip().lower()

    @field_validator("WORKING_HOURS")
    @classmethod
    def _working_hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @field_validator("LUNCH_BREAK")
    @classmethod
    def _lunch(cls, value: str) -> str:
        if value.strip():
            parse_hours(value)
        return value.strip()

    @field_validator("CALENDAR_OVERRIDE_FILE", "SLA_POLICY_FILE", mode="before")
    @classmethod
    def _optional_file(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None and not Path(str(value)).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("AUDIT_ANCHOR_DIR", mode="before")
    @classmethod
    def _optional_directory(cls, value: object) -> object:
        # Empty (as in .env.example) means unset, not the current directory.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _survey_times(self) -> Settings:
        if self.AUTO_ARCHIVE_SECONDS <= self.SURVEY_REMINDER_SECONDS:
            raise ValueError(
                "AUTO_ARCHIVE_SECONDS must be longer than SURVEY_REMINDER_SECONDS "
                "(the reminder comes before archiving)"
            )
        return self

    @field_validator("DEFAULT_LOCALE")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator(
        "IMAP_HOST",
        "IMAP_USERNAME",
        "IMAP_PROCESSED_FOLDER",
        "SMTP_HOST",
        "SMTP_USERNAME",
        "MAIL_FROM",
        "TELEGRAM_WEBHOOK_URL",
        "TELEGRAM_WEBHOOK_SECRET",
        "METRICS_TOKEN",
        "WORKER_ID",
    )
    @classmethod
    def _optional(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("IMAP_SECURITY", "SMTP_SECURITY")
    @classmethod
    def _security(cls, value: str) -> str:
        if value.lower() not in ("ssl", "starttls", "none"):
            raise ValueError("must be ssl, starttls or none")
        return value.lower()

    @field_validator("TELEGRAM_WEBHOOK_URL")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be the public https:// URL Telegram posts updates to")
        return value

    @field_validator("TELEGRAM_WEBHOOK_SECRET")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        # Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{32,256}", value):
            raise ValueError(
                "must be 32 to 256 random characters from A-Z, a-z, 0-9, _ and - "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("LOG_FORMAT")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.strip().lower() not in ("text", "json"):
            raise ValueError("must be text or json")
        return value.strip().lower()

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            if part == "*":
                continue
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(
                    f"{part!r} is not an address or network (example: 127.0.0.1,10.0.0.0/8)"
                ) from None
        return ",".join(parts)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.TELEGRAM_WEBHOOK_URL and not self.TELEGRAM_WEBHOOK_SECRET:
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_WEBHOOK_URL is "
                "(32 or more random characters)"
            )
        return self

    @field_validator("PORT")
    @classmethod
    def _listen_port(cls, value: int) -> int:
        if not 0 <= value < 65536:
            raise ValueError("must be a port number between 1 and 65535 (0: any free port)")
        return value

    @field_validator("IMAP_PORT", "SMTP_PORT")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 < value < 65536:
            raise ValueError("must be a port number between 1 and 65535")
        return value

    @field_validator("IMAP_POLL_SECONDS", "MAIL_AUTO_REPLY_LIMIT")
    @classmethod
    def _at_least_one(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("INBOUND_MESSAGES_PER_MINUTE", "INBOUND_BURST", mode="before")
    @classmethod
    def _inbound_limit(cls, value: object) -> int:
        text = str(value).strip()
        if not text.isdigit():
            raise ValueError("must be a whole number of messages, or 0 to turn the limit off")
        return int(text)

    @field_validator("MAIL_MAX_ATTACHMENT_MB", mode="before")
    @classmethod
    def _attachment_limit(cls, value: object) -> int:
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            raise ValueError("must be a whole number of megabytes, at least 1")
        return int(text)

    @field_validator("TELEGRAM_CHAT_BURST", mode="before")
    @classmethod
    def _chat_burst(cls, value: object) -> int:
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            raise ValueError("must be a whole number of messages, at least 1")
        return int(text)

    @field_validator("MAIL_FROM")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError("must be an address such as 投诉受理 <complaints@example.com>")
        return value

    @property
    def agent_ids(self) -> frozenset[str]:
        return frozenset(filter(None, self.TELEGRAM_AGENT_IDS.split(",")))

    @property
    def supervisor_ids(self) -> frozenset[str]:
        return frozenset(filter(None, self.TELEGRAM_SUPERVISOR_IDS.split(",")))

    @property
    def worker_id(self) -> str:
        return self.WORKER_ID or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.TIMEZONE)

    @property
    def working_hours(self) -> tuple[time, time]:
        return parse_hours(self.WORKING_HOURS)

    @property
    def lunch_break(self) -> tuple[time, time] | None:
        return parse_hours(self.LUNCH_BREAK) if self.LUNCH_BREAK else None


def parse_customers(text: str) -> int | None:
    """A number of customers as written (`1000000`, also `1,000,000` or `1 000 000`);
    None when it is not a whole number above 0."""
    if not _CUSTOMERS.fullmatch(text.strip()):
        return None
    return int(re.sub(r"[, _]", "", text.strip())) or None


def load_settings() -> Settings:
    """Reads the settings; a wrong value raises `SettingsError` naming the variable."""
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if not name:  # a rule across settings: the message names them
            raise SettingsError(f"Settings are wrong: {message}") from None
        raise SettingsError(f"Setting {name} is wrong: {message}") from None
    problems = registry.problems(settings)
    if problems:
        raise SettingsError(problems[0])
    return settings
