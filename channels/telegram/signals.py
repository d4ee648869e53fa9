"""Requests that only tell a person something is happening — a pressed button's spinner
stopped, "typing…" while the bot works on their message — sent alongside the handling
rather than before it: the answer waits for no such round trip, and a slow or failing
one delays nothing (it is logged at debug level: the message still counts)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from telegram.error import TelegramError

log = logging.getLogger(__name__)


class Signals:
    """Sends each signal on its own; `close` ends those still on their way."""

    def __init__(self) -> None:
        self._sending: set[asyncio.Task[None]] = set()

    def send(self, request: Coroutine[Any, Any, object], what: str) -> None:
        """Sends `request` now, without waiting for it; `what` names it in the log."""
        task = asyncio.ensure_future(_sent(request, what))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def close(self) -> None:
        for task in list(self._sending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _sent(request: Coroutine[Any, Any, object], what: str) -> None:
    try:
        await request
    except TelegramError as error:
        log.debug("%s not shown: %s", what, error)
    except Exception as error:  # e.g. the library already shut down: a sign, nothing more
        log.debug("%s not sent: %s", what, type(error).__name__)
