"""Texts shown to people, from gettext catalogs (bot/locales/<locale>/LC_MESSAGES).

English source texts are the message ids; `zh_CN` is the default language. A text that
counts something has a singular and a plural id (`Translator.ngettext`); Chinese has one
form for every number, English two. A missing translation falls back to English.

Each locale's catalog is read once per process from its compiled `messages.mo`, which
installing the package builds from `messages.po` (setup.py). Where the `.po` is newer than
its `.mo`, or no `.mo` was built (a source checkout after `pybabel update`, or never
installed), the `.po` is compiled in memory instead, so an edited translation shows at once.
The README's "Translations" section says how a text is added.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

SUPPORTED_LOCALES = ("zh_CN", "en")
LOCALES_DIR = Path(__file__).parent / "locales"


@cache
def _translations(locale: str) -> gettext.NullTranslations:
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    compiled, source = folder / "messages.mo", folder / "messages.po"
    if compiled.exists() and not (
        source.exists() and source.stat().st_mtime > compiled.stat().st_mtime
    ):
        with compiled.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if source.exists():
        return gettext.GNUTranslations(_compiled_in_memory(source, locale))
    return gettext.NullTranslations()


def _compiled_in_memory(source: Path, locale: str) -> BytesIO:
    # Babel's catalog tools are imported only here: an installed package reads its .mo.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with source.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return compiled


class Translator:
    """Looks texts up in one locale's catalog."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in SUPPORTED_LOCALES else SUPPORTED_LOCALES[0]

    def gettext(self, message: str) -> str:
        return _translations(self.locale).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The text's form for `n` things, placeholders still to fill:
        `tr.ngettext("{count} file", "{count} files", n).format(count=n)`."""
        return _translations(self.locale).ngettext(singular, plural, n)

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
