"""The privacy notice (PIPL) a complainant sees before the first question on every
channel: what is collected, why, how long it is kept, and how to see it or have it
erased. The company's own page (PRIVACY_NOTICE_URL) or the built-in text (served at
/privacy); its `version` goes on each case's timeline with whether the complainant
agreed (the web asks) or was shown it (chat greeting, mail receipt): the
`privacy_notice` event, a `bot.domain.NoticeGiven` on the case as it opens.

`short_notice` is the notice in three lines for any page or message that shows it
before the first question; `receipt_line` its line in a mail receipt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.domain import NoticeHow

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
    """The notice in force: its version, the company's page when it has one, the
    address people are sent to read it in full (`page`: that page, else the built-in
    one at /privacy; None where nobody serves it), and how long cases are kept."""

    version: str = "builtin"
    url: str | None = None
    page: str | None = None
    retention_days: int | None = None

    def where(self, base_url: str) -> str:
        """The address of the full notice."""
        return self.url or f"{base_url.rstrip('/')}/privacy"


def short_notice(_: Gettext, notice: PrivacyNotice) -> str:
    """The notice in three lines, shown before the first question (the chat's greeting,
    the web's pages): what is collected and why, how long it is kept and how to see or
    erase it, and where the full notice is."""
    kept = (
        _(
            "We keep your case for {days} days after it is closed. Ask us at any time for a "
            "copy of your data, its correction or its erasure."
        ).format(days=notice.retention_days)
        if notice.retention_days is not None
        else _(
            "We keep your case as long as the regulator requires complaint records. Ask us at "
            "any time for a copy of your data, its correction or its erasure."
        )
    )
    lines = [
        _(
            "Privacy: we collect your name, contact details, what happened and your files only "
            "to handle your complaint and to report to the regulator as the law requires."
        ),
        kept,
    ]
    if notice.page:
        lines.append(_("Full notice: {address}").format(address=notice.page))
    return "\n".join(lines)


def receipt_line(_: Gettext, notice: PrivacyNotice) -> str:
    """The notice's line in a mail receipt: what the data is for, and where it is said
    in full."""
    if not notice.page:
        return _(
            "Your personal data is used only to handle your complaint; you may ask for a copy, "
            "its correction or its erasure at any time."
        )
    return _(
        "Your personal data is used only to handle your complaint; you may ask for a copy, "
        "its correction or its erasure at any time. Privacy notice: {address}"
    ).format(address=notice.page)


def notice_event_label(_: Gettext, payload: dict[str, Any]) -> str:
    """The `privacy_notice` event as staff read it on a case's timeline."""
    version = str(payload.get("version", ""))
    how = payload.get("how")
    if payload.get("agreed"):
        if how == NoticeHow.AGREED_ON_WEB:
            return _("Privacy notice {version} agreed on the web").format(version=version)
        return _("Privacy notice {version} agreed").format(version=version)
    labels: dict[object, str] = {
        NoticeHow.SHOWN_IN_CHAT: _("Privacy notice {version} shown in chat"),
        NoticeHow.MAIL_RECEIPT: _("Privacy notice {version} in the mail receipt"),
        NoticeHow.ENTERED_BY_STAFF: _(
            "Privacy notice {version} not shown: the case was entered by staff"
        ),
    }
    return labels.get(how, _("Privacy notice {version} shown")).format(version=version)
