"""What the staff web and the API need from the process that serves them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ports import Clock
from bot.router import ComplaintBot
from reporting.tally import Customers
from scheduler.calendar import Calendar


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
