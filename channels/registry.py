"""Every channel the bot knows, in the order reports list them.

A new channel is a folder `channels/NAME/` with a `channel.py` declaring one
`channels.spec.Channel`, added to `CHANNELS` here (and its settings to
`complaintbot/settings.py`). Nothing in `bot/` names a channel.
"""

from __future__ import annotations

from channels.console.channel import CONSOLE
from channels.email.channel import EMAIL
from channels.spec import AnySettings, Channel, Gettext
from channels.telegram.channel import TELEGRAM
from channels.web.channel import WEB

CHANNELS: tuple[Channel, ...] = (TELEGRAM, EMAIL, WEB, CONSOLE)
# The channels a case can come from, as stored on it.
CHANNEL_NAMES = tuple(channel.name for channel in CHANNELS)


def configured(settings: AnySettings, *, serving: bool = False) -> list[Channel]:
    """The channels the settings turn on (those `serve` alone runs only when `serving`);
    the interactive one (the console) when none."""
    chosen = [
        c
        for c in CHANNELS
        if not c.interactive and (serving or not c.served) and c.configured(settings)
    ]
    return chosen or [c for c in CHANNELS if c.interactive and c.configured(settings)][:1]


def on_record() -> frozenset[str]:
    """The channels whose messages are delivered by being on the record."""
    return frozenset(c.name for c in CHANNELS if c.on_record)


def problems(settings: AnySettings) -> list[str]:
    """What keeps a configured channel from starting, one line naming the setting each."""
    return [problem for c in CHANNELS if (problem := c.problem(settings)) is not None]


def channel_label(channel: str, _: Gettext) -> str:
    """A channel's name for people; one the bot does not know is shown as stored."""
    known = next((c for c in CHANNELS if c.name == channel), None)
    if known is None and channel == "external":
        return _("Entered by staff")  # a case entered through the API from elsewhere
    return known.label(_) if known is not None else channel


def mail_channel(settings: AnySettings) -> str | None:
    """The mail channel's name when mail is on (partners are written on it; entered
    cases' receipts go by it), else None."""
    return EMAIL.name if EMAIL.configured(settings) else None
