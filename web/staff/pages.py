"""What every staff page shares: the language, the templates, the security headers, and
the guard that sends a visitor without a session to the login page.

Pages are in Simplified Chinese or English: the `cb_lang` cookie (the switch in the
header), else the browser's Accept-Language, else DEFAULT_LOCALE.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.i18n import Translator
from storage import access_log
from web.context import WebContext
from web.staff.auth import Staff, client_address, current_staff, same_token
from web.templating import environment, locale_of

FLASH_COOKIE = "cb_flash"

# Scripts and styles only from this server, no frames, forms only back here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'self'"
)


def render(
    context: WebContext,
    request: Request,
    template: str,
    staff: Staff | None = None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    locale = locale_of(request, context.default_locale)
    tr = Translator(locale)
    flash = _read_flash(request)
    page = environment.get_template(template).render(
        _=tr.gettext,
        ngettext=tr.ngettext,
        lang="zh-CN" if locale == "zh_CN" else "en",
        locale=locale,
        staff=staff,
        path=request.url.path,
        flash=flash,
        **values,
    )
    response = HTMLResponse(page, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/staff")
    return response


def gettext(context: WebContext, request: Request) -> Callable[[str], str]:
    return Translator(locale_of(request, context.default_locale)).gettext


def redirect_with(url: str, messages: list[tuple[str, str]] | None = None) -> RedirectResponse:
    """303 to `url`, carrying messages ("ok"/"error", text) for the next page."""
    response = RedirectResponse(url, status_code=303)
    if messages:
        response.set_cookie(
            FLASH_COOKIE,
            quote(json.dumps(messages, ensure_ascii=False)),
            path="/staff",
            httponly=True,
            samesite="lax",
        )
    return response


def _read_flash(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        found = json.loads(unquote(raw))
        return [(str(kind), str(text)) for kind, text in found]
    except (ValueError, TypeError):
        return []


Handler = Callable[[Request, Staff], Awaitable[Response]]


def guarded(context: WebContext, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The page for a logged-in staff user: others go to the login page (told when their
    session has ended); a POST must carry the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        staff = await current_staff(context, request)
        if staff is None:
            _ = gettext(context, request)
            back = quote(request.url.path) if request.method == "GET" else "/staff/cases"
            if request.headers.get("accept") == "text/event-stream":
                return Response(status_code=401)
            messages = []
            if request.cookies.get("cb_staff"):
                messages.append(("error", _("Your session has ended; log in again.")))
            response = redirect_with(f"/staff/login?next={back}", messages)
            response.delete_cookie("cb_staff", path="/staff")
            return response
        if request.method == "POST":
            form = await request.form()
            if not same_token(_field(form, "csrf"), staff.csrf):
                _ = gettext(context, request)
                return render(
                    context,
                    request,
                    "staff/refused.html",
                    staff,
                    403,
                    reason=_("The form had expired or did not come from this site; try again."),
                )
        return await handler(request, staff)

    return endpoint


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


async def recorded(
    context: WebContext,
    request: Request,
    staff: Staff,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One entry of the access log for what this staff user just saw or did."""
    user = staff.user
    await record_web(context, request, user.login, user.role, action, target, detail)


async def record_web(
    context: WebContext,
    request: Request,
    actor: str,
    role: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An access log entry made on the web, with or without a session (a login)."""
    await access_log.record_access(
        context.engine,
        access_log.AccessEntry(
            at=context.clock.now(),
            actor=actor,
            role=role,
            action=action,
            target=target,
            detail=detail or {},
            via="web",
            address=client_address(request),
        ),
    )
