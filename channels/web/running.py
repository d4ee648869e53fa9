"""The web chat for one run: its routes under /chat/ (`channels.web.chat`) and its
sender. Nothing to connect to: a message is delivered once it is on the record, where
the visitor's page reads it (live, by the event stream, or at the next visit)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Protocol

from starlette.routing import BaseRoute

from bot.messages import Outbound
from channels.spec import ChannelContext, Webhook
from delivery.sending import ChannelPacing, Sent


class WebSettings(Protocol):
    WEB_MAX_UPLOAD_MB: int
    WEB_REQUESTS_PER_MINUTE_PER_IP: int
    WEB_OPEN_DRAFTS_PER_IP: int
    WEB_ALLOWED_ORIGINS: str
    DATA_DIR: object


class WebSender:
    """Takes an outbound message for the record: the outbox writes it to the messages
    table as sent, under the id given here, and the visitor's page shows it from there."""

    def __init__(self) -> None:
        self.sent = asyncio.Event()

    async def send(self, outbound: Outbound) -> Sent:
        self.sent.set()
        return Sent((f"w{uuid.uuid4().hex[:16]}",))


class RunningWeb:
    def __init__(self, settings: WebSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self._sender = WebSender()
        self._stopped = asyncio.Event()

    @property
    def sender(self) -> WebSender:
        return self._sender

    @property
    def pacing(self) -> ChannelPacing | None:
        return None

    @property
    def webhook(self) -> Webhook | None:
        return None

    @property
    def pages(self) -> Sequence[BaseRoute]:
        return ()

    async def start(self) -> None:
        return None

    async def finished(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()

    async def close(self) -> None:
        self._stopped.set()
