"""The Telegram channel for the registry: on when TELEGRAM_BOT_TOKEN is set.

python-telegram-bot is imported only when the channel is opened, so listing the
channels (their names and labels, for reports) costs nothing.
"""

from __future__ import annotations

from channels.spec import AnySettings, Channel, ChannelContext, Gettext, OpenChannel
from channels.telegram import CHANNEL


def _label(_: Gettext) -> str:
    return "Telegram"


def _configured(settings: AnySettings) -> bool:
    return bool(settings.TELEGRAM_BOT_TOKEN)


def _open(settings: AnySettings, context: ChannelContext) -> OpenChannel:
    from channels.telegram.running import RunningTelegram

    return RunningTelegram(settings, context)


TELEGRAM = Channel(name=CHANNEL, label=_label, configured=_configured, open=_open)
