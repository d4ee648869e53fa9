"""What the staff web and the API need from the process that serves them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.notice import PrivacyNotice
from bot.ports import Clock
from bot.router import ComplaintBot
from reporting.tally import Customers
from scheduler.calendar import Calendar


@dataclass(frozen=True)
class PublicSite:
    """The complainants' side of the web (the form, the status page, the survey page),
    from the WEB_* settings; the chat's own are the web channel's."""

    base_url: str  # PUBLIC_BASE_URL: what links sent by mail start with
    allowed_origins: tuple[str, ...] = ()
    max_upload_mb: int = 20
    # Signs the links people are sent (the survey's); see `web.public.links`.
    secret_key: bytes = b""
    requests_per_minute_per_ip: int = 600
    open_drafts_per_ip: int = 200
    # The mail channel's name when mail is on: status codes are sent by it.
    mail_channel: str | None = None
    retention_days: int | None = None
    notice: PrivacyNotice = field(default_factory=PrivacyNotice)


@dataclass(frozen=True)
class WebContext:
    """Built once per worker by `complaintbot.worker`; shared by every request."""

    engine: AsyncEngine
    bot: ComplaintBot
    clock: Clock
    zone: ZoneInfo
    calendar: Calendar
    data_dir: Path
    default_locale: str
    satisfied_threshold: int
    customers: Customers | None = None
    session_hours: float = 8.0
    anchor_dir: Path | None = None
    # None when WEB_ENABLED=false: no complainant pages.
    public: PublicSite | None = None
