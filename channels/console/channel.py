"""The console channel for the registry: the chat in the terminal, when no other
channel is configured."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.routing import BaseRoute

from channels.console import CHANNEL
from channels.console.chat import ConsoleChannel
from channels.spec import (
    AnySettings,
    Channel,
    ChannelContext,
    Gettext,
    OpenChannel,
    Webhook,
)
from delivery.sending import ChannelPacing

BANNER = "complaintbot 控制台对话 · console chat — Ctrl-D 退出 / to quit"


class RunningConsole:
    """Reads stdin from `start` until end of input; each answer is delivered (printed)
    before the next line is read."""

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.chat = ConsoleChannel(clock=context.clock)
        self._reading: asyncio.Task[None] | None = None

    @property
    def sender(self) -> ConsoleChannel:
        return self.chat

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
        print(BANNER, flush=True)
        self._reading = asyncio.create_task(self.chat.run(self.context.handle, self.context.settle))

    async def finished(self) -> None:
        if self._reading is not None:
            await self._reading

    async def stop(self) -> None:
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()

    async def close(self) -> None:
        return None


def _label(_: Gettext) -> str:
    return _("Console")


def _configured(_settings: AnySettings) -> bool:
    return True


def _open(_settings: AnySettings, context: ChannelContext) -> OpenChannel:
    return RunningConsole(context)


CONSOLE = Channel(name=CHANNEL, label=_label, configured=_configured, open=_open, interactive=True)
