"""The privacy notice (PIPL) a complainant sees before the first question on every
channel: what is collected, why, how long it is kept, and how to see it or have it
erased. The company's own page (PRIVACY_NOTICE_URL) or the built-in text (served at
/privacy); its `version` goes on each case's timeline with whether the complainant
agreed (the web asks) or was shown it (chat greeting, mail receipt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Gettext = Callable[[str], str]


def builtin_paragraphs(_: Gettext, retention_days: int | None) -> list[str]:
    """The built-in notice, paragraph by paragraph."""
    kept = (
        _(
            "Your case is kept for {days} days after it is closed, then your personal "
            "data in it is erased."
        ).format(days=retention_days)
        if retention_days is not None
        else _("Your case is kept as long as the regulator requires complaint records to be kept.")
    )
    return [
        _(
            "We collect what you tell us to handle your complaint: your name, your phone "
            "number or email address, what happened, what you expect, and the files you "
            "send."
        ),
        _(
            "We use it only to handle your complaint, answer you, and report our complaint "
            "handling to the regulator as the law requires."
        ),
        kept,
        _(
            "You may ask for a copy of your data, its correction or its erasure at any "
            "time: write to us on the channel you used, with your case number."
        ),
    ]


# What the default version is derived from: changing the built-in notice's English
# text changes it (see `complaintbot.web_settings.WebSettings.privacy_notice_version`).
BUILTIN_BASIS = "\n".join(builtin_paragraphs(lambda text: text, None))


@dataclass(frozen=True, slots=True)
class PrivacyNotice:
    """The notice in force: its version, and the company's page when it has one."""

    version: str = "builtin"
    url: str | None = None

    def where(self, base_url: str) -> str:
        """The address of the full notice."""
        return self.url or f"{base_url.rstrip('/')}/privacy"
