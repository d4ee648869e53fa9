"""The templates every page is rendered from, and the language a page is shown in.

Pages are in Simplified Chinese or English: the `cb_lang` cookie (the switch on the
page), else the browser's Accept-Language, else DEFAULT_LOCALE.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.requests import Request

from bot.i18n import SUPPORTED_LOCALES

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGE_COOKIE = "cb_lang"

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def locale_of(request: Request, default: str) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in SUPPORTED_LOCALES:
        return chosen
    return browser_locale(request.headers.get("accept-language", ""), default)


def browser_locale(accept_language: str, default: str) -> str:
    """The first of the supported languages the browser asks for."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return default
