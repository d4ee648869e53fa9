"""The rules an answer to the intake must meet, and what the person is told when it
does not: the same whether the answers come one by one in a chat (`bot.intake`) or all
at once in a form (`bot.forms`).

A check returns the cleaned value, or the problem in the person's language.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.contact import ContactAnswer, normalise_email, normalise_phone, parse_contact
from bot.i18n import Translator
from bot.questions import echo

MAX_NAME = 100
MAX_SUBJECT = 300
MAX_EXPECTATION = 2000


def clean(text: str) -> str:
    """Text without surrounding blanks; invisible format characters alone count as empty."""
    stripped = text.strip()
    visible = "".join(ch for ch in stripped if unicodedata.category(ch) not in ("Cf", "Zs", "Cc"))
    return stripped if visible else ""


@dataclass(frozen=True, slots=True)
class Checked:
    """An answer as accepted (`value`), or why not (`problem`)."""

    value: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class Answers:
    """Checks answers in one language: the rules of every intake, and their messages."""

    def __init__(self, tr: Translator, phone_region: str = "CN") -> None:
        self._ = tr.gettext
        self.ngettext = tr.ngettext
        self.phone_region = phone_region

    def text(self, raw: str, limit: int | None, *, empty: str) -> Checked:
        """A written answer of at most `limit` characters; `empty` is what an empty one
        is told (a chat and a form say it differently)."""
        text = clean(raw)
        if not text:
            return Checked("", empty)
        if limit is not None and len(text) > limit:
            return Checked(text, self.too_long(limit))
        return Checked(text)

    def too_long(self, limit: int) -> str:
        return self.ngettext(
            "That is longer than {limit} character. Please shorten it.",
            "That is longer than {limit} characters. Please shorten it.",
            limit,
        ).format(limit=limit)

    def contact(self, raw: str) -> ContactAnswer | str:
        """A phone number and/or an email address typed in one answer, or the problem."""
        answer = parse_contact(raw, self.phone_region)
        if answer.usable:
            return answer
        return self.not_a_contact(answer.rejected[0] if answer.rejected else raw)

    def phone(self, raw: str) -> Checked:
        """A phone number alone (E.164 once accepted); an empty answer is no problem."""
        text = clean(raw)
        if not text:
            return Checked("")
        valid = normalise_phone(text, self.phone_region)
        return Checked(valid) if valid else Checked(text, self.not_a_contact(text))

    def email(self, raw: str) -> Checked:
        """An email address alone; an empty answer is no problem."""
        text = clean(raw)
        if not text:
            return Checked("")
        valid = normalise_email(text)
        return Checked(valid) if valid else Checked(text, self.not_a_contact(text))

    def not_a_contact(self, value: str) -> str:
        return self._(
            "“{value}” is not a valid phone number or email address. Please send a "
            "phone number such as 13812345678 or an email such as name@example.com."
        ).format(value=echo(value))
