"""Placeholder of the access log's interface (replaced by the access log itself when it
is merged): who looked at or did what, through which door. Here each entry is only
logged, so the callers are written against the real signature."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccessEntry:
    at: datetime
    actor: str
    role: str
    action: str
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    via: str = "web"
    address: str | None = None


async def record_access(engine: AsyncEngine, entry: AccessEntry) -> None:
    log.info(
        "access: %s (%s) %s %s via %s",
        entry.actor,
        entry.role,
        entry.action,
        entry.target,
        entry.via,
    )
