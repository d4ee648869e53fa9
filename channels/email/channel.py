"""The email channel for the registry: on when IMAP_HOST is set (then IMAP_USERNAME,
IMAP_PASSWORD, SMTP_HOST and MAIL_FROM are required)."""

from __future__ import annotations

from channels.email import CHANNEL
from channels.spec import AnySettings, Channel, ChannelContext, Gettext, OpenChannel

_REQUIRED = ("IMAP_USERNAME", "IMAP_PASSWORD", "SMTP_HOST", "MAIL_FROM")


def _label(_: Gettext) -> str:
    return _("Email")


def _configured(settings: AnySettings) -> bool:
    return bool(settings.IMAP_HOST)


def _problem(settings: AnySettings) -> str | None:
    """What keeps the channel from starting, naming the variable; None when it is off
    or complete."""
    if not settings.IMAP_HOST:
        return None
    for name in _REQUIRED:
        if not getattr(settings, name):
            return f"Setting {name} is wrong: required when IMAP_HOST is set"
    return None


def _open(settings: AnySettings, context: ChannelContext) -> OpenChannel:
    # aioimaplib and aiosmtplib load only when mail is on.
    from channels.email.running import RunningMail

    return RunningMail(settings, context)


EMAIL = Channel(name=CHANNEL, label=_label, configured=_configured, open=_open, problem=_problem)
