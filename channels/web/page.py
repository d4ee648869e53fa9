"""The chat page and the widget's script, in the visitor's language.

The page's texts come rendered (and escaped) by the server; the script reads them from
a JSON block, since the Content-Security-Policy lets no inline script run. The page
weighs a few kilobytes with its script and style, none from elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.notice import PrivacyNotice, builtin_paragraphs
from channels.spec import Gettext

LOCALES = ("zh_CN", "en")
HERE = Path(__file__).parent
STATIC = HERE / "static"
_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def chat_csp(allowed_origins: tuple[str, ...]) -> str:
    ancestors = " ".join(("'self'", *allowed_origins))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {ancestors}"
    )


def page_locale(request: Request, default: str) -> str:
    chosen = request.query_params.get("lang", "")
    chosen = "zh_CN" if chosen.lower().startswith("zh") else chosen
    if chosen in LOCALES:
        return chosen
    cookie = request.cookies.get("cb_lang")
    if cookie in LOCALES:
        return cookie
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return default


def chat_page(
    request: Request,
    gettext: Callable[[str], Gettext],
    *,
    default_locale: str,
    notice: PrivacyNotice,
    notice_page: str,
    retention_days: int | None,
    max_upload_mb: int,
    allowed_origins: tuple[str, ...],
) -> Response:
    locale = page_locale(request, default_locale)
    _ = gettext(locale)
    texts = {
        "send": _("Send"),
        "attach": _("Attach a file"),
        "typing": _("Typing…"),
        "you": _("You"),
        "us": _("Customer service"),
        "phone": _("Your mobile number"),
        "phone_send": _("Send number"),
        "retrying": _("Not sent yet; trying again…"),
        "offline": _("Connection lost; reconnecting…"),
        "too_large": _("The file is larger than {mb} MB; please send a smaller one.").format(
            mb=max_upload_mb
        ),
        "file": _("File"),
    }
    config = {
        "lang": locale,
        "version": notice.version,
        "maxUploadBytes": max_upload_mb * 1024 * 1024,
        "origins": list(allowed_origins),
        "texts": texts,
    }
    page = _environment.get_template("chat.html").render(
        _=_,
        lang="zh-CN" if locale == "zh_CN" else "en",
        locale=locale,
        other=("en", "English") if locale == "zh_CN" else ("zh_CN", "中文"),
        embedded=request.query_params.get("embed") == "1",
        notice=builtin_paragraphs(_, retention_days) if notice.url is None else [],
        notice_page=notice_page,
        config=json.dumps(config, ensure_ascii=False).replace("</", "<\\/"),
    )
    return HTMLResponse(page)
