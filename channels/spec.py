"""What a channel declares to the registry, and what it is given when it runs.

A channel is one folder under `channels/` whose `channel.py` holds one `Channel`: its
name (as stored on cases), its label for people, whether the settings turn it on, any
setting that keeps it from starting, and `open`, which builds an `OpenChannel` from
the settings and a `ChannelContext`. `complaintbot/app.py` opens every configured
channel, hands their senders and pacing to the dispatcher, starts them, and at the
end stops and closes them, the same way for all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from starlette.routing import BaseRoute

from bot.messages import Inbound
from bot.ports import Clock
from delivery.sending import ChannelPacing, Sender

Gettext = Callable[[str], str]
Handle = Callable[[Inbound], Awaitable[object]]
# The settings object (complaintbot.settings.Settings); each channel reads its own
# names from it and says which in a Protocol next to the code that reads them.
AnySettings = Any


class ChannelStartError(Exception):
    """The channel cannot start; the message says what to do."""


class CursorStore(Protocol):
    """Where a polling channel keeps its place (UIDVALIDITY, last UID handled) per input."""

    async def load(self, account: str) -> tuple[int, int] | None: ...

    async def save(self, account: str, uidvalidity: int, last_uid: int) -> None: ...


# stored: not handled yet; handled: the bot has it; undecodable: it cannot be read;
# failed: the bot failed on it while the database worked. The last two are kept raw.
RawState = Literal["stored", "handled", "undecodable", "failed"]


class ClaimedUpdates(Protocol):
    """A conversation in one worker's hands, with its stored updates, oldest first."""

    @property
    def conversation(self) -> str: ...

    @property
    def updates(self) -> list[tuple[str, dict[str, Any]]]: ...

    @property
    def more(self) -> bool:
        """Other conversations were waiting too when this one was claimed."""
        ...


class HandedUpdate(Protocol):
    """A stored update being handed to the bot."""

    @property
    def marked(self) -> bool:
        """Marked handled already, with the message the bot recorded for it."""
        ...


class RawUpdates(Protocol):
    """Where a channel keeps each update as it arrived, under the transport's key for it,
    before it lets the transport forget it (raw first, parse second).

    Any exception means nothing was stored (the database is unavailable): the channel
    must not acknowledge the updates and tries again later.
    """

    async def keep(
        self,
        channel: str,
        updates: Sequence[tuple[str, dict[str, Any]]],
        conversation: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> list[str]:
        """Stores the updates not stored yet (all or none); returns the keys among them
        still to be handled, in the order given. `conversation` names an update's
        conversation: those of one conversation are handled in order, by one worker."""
        ...

    def claim(self, channel: str) -> AbstractAsyncContextManager[ClaimedUpdates | None]:
        """Holds, while the context lasts, the conversation whose stored update waits
        longest among those no worker holds; None when none waits."""
        ...

    async def stored(self, within: float) -> None:
        """Returns when woken (updates were stored, by any worker), or after `within`
        seconds."""
        ...

    def wake(self, count: int = 1) -> None:
        """Wakes `count` of those waiting in `stored`."""
        ...

    def handing(self, channel: str, key: str) -> AbstractContextManager[HandedUpdate]:
        """While the stored update `key` is handed to the bot: the bot's transaction that
        records its message may mark it handled too (then `marked`)."""
        ...

    async def mark(self, channel: str, key: str, state: RawState) -> None:
        """Records what became of a stored update; `stored` again is a write that
        shows the store takes writes."""
        ...


class TranscriptEntry(Protocol):
    """One stored message of a conversation: `raw` is what came in (the channel's own
    payload) or the outbound payload; `ref` the chat-local id of a message sent."""

    @property
    def id(self) -> int: ...
    @property
    def direction(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def raw(self) -> dict[str, Any]: ...
    @property
    def at(self) -> datetime: ...
    @property
    def ref(self) -> str | None: ...
    @property
    def transport_id(self) -> str: ...


class Transcript(Protocol):
    """The record of a channel's conversations, for a channel whose people read them
    from it (the web chat's page)."""

    async def since(
        self, channel: str, conversation: str, after: int, limit: int = 200
    ) -> Sequence[TranscriptEntry]:
        """The conversation's messages stored after message `after`, oldest first."""
        ...

    async def touched(self, channel: str, after: int | None) -> tuple[int, frozenset[str]]:
        """The newest message's id and the channel's conversations with messages after
        `after` (None: just the newest id)."""
        ...


class Visitors(Protocol):
    """The web chat's visitors: where each conversation began and when it was seen."""

    async def begin(self, conversation: str, address: str | None, now: datetime) -> None: ...

    async def seen(
        self, conversation: str, now: datetime, message_id: int | None = None
    ) -> None: ...

    async def open_drafts(self, channel: str, address: str, since: datetime) -> int: ...


class Leadership(Protocol):
    """Only one worker does a thing named `name` (reads a mailbox, polls); `hold`
    yields whether this one does, for as long as the context lasts."""

    def hold(self, name: str) -> AbstractAsyncContextManager[bool]: ...


class AlwaysLeader:
    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        yield True


@dataclass(frozen=True, slots=True)
class Webhook:
    """A route the server gives a channel: requests POSTed to `path` go to `receive`
    (headers with lower-case names, and the body), which answers a status and JSON."""

    path: str
    receive: Callable[[Mapping[str, str], bytes], Awaitable[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What the running system lends a channel.

    `handle` takes every `Inbound` (stored first, then answered); `settle` delivers what
    is queued now (an interactive channel calls it before it reads the next input);
    `running` names every channel of this run; `raw_updates` keeps updates as received;
    `count_inbound` counts what became of each.
    """

    handle: Handle
    clock: Clock
    cursors: CursorStore
    leadership: Leadership
    command_menu: Callable[[], dict[str, list[tuple[str, str]]]]
    settle: Callable[[], Awaitable[None]]
    running: frozenset[str]
    raw_updates: RawUpdates
    # Told each message's fate as it comes in: (channel, stored | duplicate |
    # undecodable | refused), for the metrics.
    count_inbound: Callable[[str, str], None] = lambda _channel, _outcome: None
    # The texts for people in a language ("zh_CN", "en"): the bot's catalogs.
    gettext: Callable[[str], Gettext] = lambda _locale: lambda text: text
    # The record of conversations and the web chat's visitors (`complaintbot serve`).
    transcript: Transcript | None = None
    visitors: Visitors | None = None


class OpenChannel(Protocol):
    """A channel built for one run: its sender and pacing go to the dispatcher."""

    @property
    def sender(self) -> Sender: ...

    @property
    def pacing(self) -> ChannelPacing | None: ...

    @property
    def webhook(self) -> Webhook | None:
        """The route that takes this channel's input by HTTP (`complaintbot serve`)."""
        ...

    @property
    def pages(self) -> Sequence[BaseRoute]:
        """Routes a channel serves people directly (the web chat's page, its API and
        event stream), added to `complaintbot serve`'s application."""
        ...

    async def start(self) -> None:
        """Connects and starts taking input in the background; raises `ChannelStartError`
        when it cannot."""
        ...

    async def finished(self) -> None:
        """Returns when the input has ended by itself (the console's end of input) or the
        channel was stopped."""
        ...

    async def stop(self) -> None:
        """Stops taking input; sending still works until `close`."""
        ...

    async def close(self) -> None:
        """Releases the transport; called after every `open`, also when `start` failed."""
        ...


def _no_problem(_settings: AnySettings) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel as the registry lists it.

    `interactive`: a conversation on this terminal (the console). It runs only when no
    other channel is configured, delivers each answer before it reads the next input,
    and its end of input ends the run.

    `served`: it takes input only through `complaintbot serve`'s HTTP server (the web
    chat), so `complaintbot run` leaves it out.

    `on_record`: a message is delivered by being on the record, where the channel's
    pages read it (the web chat): a reply is stored as sent in the transaction that
    writes it, and no dispatcher sends it.
    """

    name: str
    label: Callable[[Gettext], str]
    configured: Callable[[AnySettings], bool]
    open: Callable[[AnySettings, ChannelContext], OpenChannel]
    problem: Callable[[AnySettings], str | None] = _no_problem
    interactive: bool = False
    served: bool = False
    on_record: bool = False
