"""The web chat for the registry: served by `complaintbot serve` (never `run`), on
unless WEB_ENABLED=false; its replies are delivered by being stored."""

from __future__ import annotations

from channels.spec import AnySettings, Channel, ChannelContext, Gettext, OpenChannel
from channels.web import CHANNEL


def _label(_: Gettext) -> str:
    return _("Web")


def _configured(settings: AnySettings) -> bool:
    return bool(settings.WEB_ENABLED)


def _open(settings: AnySettings, context: ChannelContext) -> OpenChannel:
    from channels.web.running import RunningWeb

    return RunningWeb(settings, context)


WEB = Channel(
    name=CHANNEL,
    label=_label,
    configured=_configured,
    open=_open,
    served=True,
    on_record=True,  # the visitor's page reads its messages from the record
)
