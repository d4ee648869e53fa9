"""Texts shown to people, from gettext catalogs (Babel's .po files in bot/locales).

English source strings are the message ids; `zh_CN` is the default language.
Catalogs are read once per process; a missing translation falls back to English.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

SUPPORTED_LOCALES = ("zh_CN", "en")
LOCALES_DIR = Path(__file__).parent / "locales"


@cache
def _catalog(locale: str) -> dict[str, str]:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


class Translator:
    """Looks texts up in one locale's catalog."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in SUPPORTED_LOCALES else SUPPORTED_LOCALES[0]

    def gettext(self, message: str) -> str:
        return _catalog(self.locale).get(message, message)

    # The name the catalog extractor looks for: `tr._("…")` is found like `_("…")`.
    _ = gettext


def locale_for(language_code: str | None, default: str) -> str:
    """The locale to use for a Telegram-style language code (`zh-hans`, `en-GB`, ...)."""
    if not language_code:
        return default
    code = language_code.lower()
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return default
