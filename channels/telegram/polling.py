"""`getUpdates` as JSON: the Bot API's long poll, read without decoding.

python-telegram-bot's `Bot.get_updates` decodes a whole batch at once, so one update it
cannot read loses the batch (and its `Updater` then asks for the same batch forever).
Here the batch stays JSON; the caller stores each update raw and only then moves the
offset past it (raw first, parse second). The transport is httpx, which
python-telegram-bot itself runs on.
"""

from __future__ import annotations

from typing import Any

import httpx
from telegram import Update

# As python-telegram-bot's `Updater.start_polling`: Telegram answers a long poll after
# at most this many seconds when nothing arrives.
POLL_TIMEOUT = 10.0


class FeedError(Exception):
    """A poll failed; try again after `retry_after` seconds (Telegram's, when it said)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class FeedRefused(FeedError):
    """Telegram refused the token (401/404): polling again will not help."""


class FeedConflict(FeedError):
    """409: another poller or a webhook has the updates (Telegram ends one of two
    pollers' long polls with it)."""


class UpdateFeed:
    """Long polls `getUpdates` at `base_url` (the Bot API URL with the token)."""

    def __init__(self, base_url: str, poll_timeout: float = POLL_TIMEOUT) -> None:
        self.url = f"{base_url}/getUpdates"
        self.poll_timeout = poll_timeout
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(poll_timeout + 10.0, connect=10.0))

    async def fetch(self, offset: int | None) -> list[dict[str, Any]]:
        """The updates after `offset` (Telegram forgets those before it), as JSON objects;
        raises `FeedError` when the poll fails. Only updates with an `update_id` are kept:
        nothing else can be acknowledged."""
        params: dict[str, Any] = {
            "timeout": self.poll_timeout,
            "allowed_updates": list(Update.ALL_TYPES),
        }
        if offset is not None:
            params["offset"] = offset
        try:
            response = await self._client.post(self.url, json=params)
            body = response.json()
        except httpx.HTTPError as error:
            raise FeedError(type(error).__name__) from None
        except ValueError:
            raise FeedError(f"HTTP {response.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise FeedError(f"HTTP {response.status_code} without a Bot API answer")
        if body.get("ok") is not True:
            code = body.get("error_code", response.status_code)
            reason = f"HTTP {code}: {body.get('description', '')}".strip()
            if code in (401, 404):
                raise FeedRefused(reason)
            if code == 409:
                raise FeedConflict(reason)
            parameters = body.get("parameters") or {}
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise FeedError(reason, float(retry_after) if retry_after else None)
        result = body.get("result")
        if not isinstance(result, list):
            raise FeedError("getUpdates answered without a list")
        return [
            update
            for update in result
            if isinstance(update, dict)
            and isinstance(update.get("update_id"), int)
            and not isinstance(update.get("update_id"), bool)
        ]

    async def close(self) -> None:
        await self._client.aclose()
