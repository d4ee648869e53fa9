"""What every command that works cases shares: storage and the bot."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ports import Clock
from bot.retention import RetentionSweep
from bot.router import ComplaintBot
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository


@dataclass
class Core:
    """Storage and the bot, as `complaintbot.app.open_core` opens them."""

    engine: AsyncEngine
    bot: ComplaintBot
    repository: SqlRepository
    outbox: SqlOutbox
    sweep_interval: float
    clock: Clock
    # Erases personal data of long-archived cases; None when RETENTION_DAYS is unset.
    retention: RetentionSweep | None = None
