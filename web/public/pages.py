"""What every complainant page shares: rendering in the visitor's language, the
security headers, the anonymous CSRF token, the client's address and the request
limit per address.

A page is in Simplified Chinese or English: `?lang=en` (the switch on the page, kept in
the `cb_lang` cookie), else the browser's language, else DEFAULT_LOCALE. No page uses a
third-party script, font or CDN (they may be unreachable in mainland China).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.i18n import SUPPORTED_LOCALES, Translator
from channels.web.throttle import Throttle
from web.context import PublicSite, WebContext
from web.staff.auth import client_address
from web.templating import LANGUAGE_COOKIE, environment, locale_of

CSRF_COOKIE = "cb_csrf"
CSRF_FIELD = "csrf"


def public_csp(site: PublicSite) -> str:
    """Scripts and styles only from this server; forms only back here; framed only by
    this site and WEB_ALLOWED_ORIGINS."""
    ancestors = " ".join(("'self'", *site.allowed_origins))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {ancestors}"
    )


def page_locale(context: WebContext, request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    return locale_of(request, context.default_locale)


def gettext(context: WebContext, request: Request) -> Callable[[str], str]:
    return Translator(page_locale(context, request)).gettext


def csrf_token(request: Request) -> str:
    """The visitor's CSRF token (double-submit: the cookie and the form's field must
    match); a new one when the visitor has none yet."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and len(token) >= 32:
        return token
    if "csrf_new" not in request.state._state:
        request.state.csrf_new = secrets.token_urlsafe(32)
    return str(request.state.csrf_new)


def csrf_ok(request: Request, form: FormData) -> bool:
    given = form.get(CSRF_FIELD)
    kept = request.cookies.get(CSRF_COOKIE)
    return (
        isinstance(given, str)
        and bool(kept)
        and hmac.compare_digest(given.encode(), str(kept).encode())
    )


def render(
    context: WebContext,
    request: Request,
    template: str,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A complainant page, with its CSRF token (`csrf`) and the language switch."""
    locale = page_locale(context, request)
    tr = Translator(locale)
    token = csrf_token(request)
    page = environment.get_template(template).render(
        _=tr.gettext,
        ngettext=tr.ngettext,
        lang="zh-CN" if locale == "zh_CN" else "en",
        locale=locale,
        path=request.url.path,
        csrf=token,
        csrf_field=CSRF_FIELD,
        **values,
    )
    response = HTMLResponse(page, status_code=status_code)
    secure = request.url.scheme == "https"
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, path="/", httponly=True, samesite="lax", secure=secure
        )
    if request.query_params.get("lang") in SUPPORTED_LOCALES:
        response.set_cookie(
            LANGUAGE_COOKIE, locale, max_age=365 * 86400, path="/", samesite="lax", secure=secure
        )
    return response


Endpoint = Callable[[Request], Awaitable[Response]]


def limited(context: WebContext, throttle: Throttle, endpoint: Endpoint) -> Endpoint:
    """`endpoint` behind the per-address request limit: over it, a page that says so
    (429) rather than the work."""

    async def guarded(request: Request) -> Response:
        address = client_address(request)
        now = context.clock.now()
        if request.method == "POST" and not throttle.allow(address, now):
            _ = gettext(context, request)
            wait = int(throttle.retry_after(address or "", now)) + 1
            return render(
                context,
                request,
                "public/refused.html",
                429,
                reason=_("Too many requests from your network; please try again in a minute."),
                retry_after=wait,
            )
        return await endpoint(request)

    return guarded


def address_throttle(site: PublicSite) -> Throttle:
    return Throttle(site.requests_per_minute_per_ip, 60)
