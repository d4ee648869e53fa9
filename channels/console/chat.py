"""The console's chat: lines from stdin become `Inbound`s, replies are printed.

Buttons are printed as numbers; typing the number presses the button.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.messages import Inbound, InboundKind, Outbound
from bot.ports import Clock, SystemClock
from channels.console import CHANNEL
from delivery.sending import Sent

CONVERSATION = "console"


class ConsoleChannel:
    """Reads lines from `stdin`, prints replies to `stdout`; also the console's `Sender`."""

    def __init__(
        self,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.clock = clock or SystemClock()
        self._buttons: dict[str, str] = {}

    async def send(self, outbound: Outbound) -> Sent:
        lines = outbound.text.splitlines() or [""]
        self._buttons = {}
        number = 0
        for row in outbound.buttons:
            labels = []
            for button in row:
                number += 1
                self._buttons[str(number)] = button.data
                labels.append(f"[{number}] {button.label}")
            lines.append("   ".join(labels))
        if outbound.contact_button:
            lines.append(f"({outbound.contact_button}: /phone NUMBER)")
        self.stdout.write("\n".join(f"bot> {line}" if line else "bot>" for line in lines) + "\n")
        self.stdout.flush()
        # Unique across runs: the messages table keys outbound messages by this id.
        return Sent((uuid.uuid4().hex,))

    def to_inbound(self, line: str) -> Inbound:
        text = line.rstrip("\n")
        stripped = text.strip()
        fields: dict = {}
        if stripped in self._buttons:
            fields = {"kind": InboundKind.BUTTON, "button_data": self._buttons[stripped]}
        elif stripped.startswith("/phone "):
            fields = {
                "kind": InboundKind.CONTACT,
                "phone": stripped.removeprefix("/phone ").strip(),
            }
        elif stripped.startswith("/") and len(stripped) > 1:
            command, _, args = stripped[1:].partition(" ")
            fields = {"kind": InboundKind.COMMAND, "command": command, "command_args": args}
        else:
            fields = {"kind": InboundKind.TEXT}
        return Inbound(
            channel=CHANNEL,
            transport_id=uuid.uuid4().hex,
            conversation=CONVERSATION,
            sender_id="console-user",
            received_at=self.clock.now(),
            text=text,
            raw={"line": text},
            **fields,
        )

    async def run(
        self,
        handle: Callable[[Inbound], Awaitable[object]],
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        """Feeds lines to `handle` until end of input (Ctrl-D).

        `settle` delivers the replies before the next line is read, so a number typed
        (or piped) after a question always refers to that question's buttons.
        """
        loop = asyncio.get_running_loop()
        await settle()
        while True:
            line = await loop.run_in_executor(None, self.stdin.readline)
            if not line:
                return
            await handle(self.to_inbound(line))
            await settle()
