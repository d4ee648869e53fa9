"""Wakes each open event stream when its conversation has something new.

One look a worker, whatever the number of streams: while any is open, the newest
stored messages are looked at every `LOOK` seconds (any worker may have stored them: an
answer handled there, an agent's reply written there) and the streams of the
conversations they belong to are woken. A visitor's own message is answered in the
transaction that stores it; its streams in this worker are woken at the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from channels.spec import Transcript

log = logging.getLogger(__name__)

LOOK = 0.1  # seconds between looks at the record while streams are open
FAILED_LOOK = 2.0


class Listener:
    """One open stream: woken by `wake`, with the messages handed to it directly."""

    def __init__(self) -> None:
        self._woken = asyncio.Event()
        self._news = False
        self.pushed: list[dict[str, Any]] = []

    def wake(self) -> None:
        self._news = True
        self._woken.set()

    def take(self) -> list[dict[str, Any]]:
        taken, self.pushed = self.pushed, []
        self._news = False
        self._woken.clear()
        return taken

    async def wait(self, seconds: float) -> bool:
        """True when woken within `seconds`. A timer rather than `wait_for`: a thousand
        idle streams would each raise and collect a timeout every heartbeat."""
        if not self._news:
            timer = asyncio.get_running_loop().call_later(seconds, self._woken.set)
            try:
                await self._woken.wait()
            finally:
                timer.cancel()
        self._woken.clear()
        return self._news


class TranscriptWatch:
    def __init__(self, transcript: Transcript, channel: str) -> None:
        self.transcript = transcript
        self.channel = channel
        self._listeners: dict[str, set[Listener]] = {}
        self._someone = asyncio.Event()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Ends every stream (each returns at its next wake) and the looking."""
        self._stopped.set()
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.wake()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.contextmanager
    def listen(self, conversation: str) -> Iterator[Listener]:
        listener = Listener()
        self._listeners.setdefault(conversation, set()).add(listener)
        self._someone.set()
        try:
            yield listener
        finally:
            listeners = self._listeners.get(conversation, set())
            listeners.discard(listener)
            if not listeners:
                self._listeners.pop(conversation, None)

    def push(self, conversation: str, entry: dict[str, Any]) -> None:
        """Hands a message to the conversation's streams in this worker."""
        for listener in self._listeners.get(conversation, ()):
            listener.pushed.append(entry)
            listener.wake()

    def wake(self, conversations: frozenset[str]) -> None:
        """Has the conversations' streams in this worker read what is new now."""
        for conversation in conversations:
            for listener in self._listeners.get(conversation, ()):
                listener.wake()

    async def _run(self) -> None:
        after: int | None = None
        while not self._stopped.is_set():
            if not self._listeners:
                self._someone.clear()
                await self._someone.wait()
                after = None  # what came while no one listened is read by each stream
            try:
                after, touched = await self.transcript.touched(self.channel, after)
            except Exception as error:
                if not self._failing:
                    self._failing = True
                    log.warning("web chat cannot read new messages (%s)", type(error).__name__)
                await asyncio.sleep(FAILED_LOOK)
                continue
            if self._failing:
                self._failing = False
                log.info("web chat reads new messages again")
            self.wake(touched)
            await asyncio.sleep(LOOK)
