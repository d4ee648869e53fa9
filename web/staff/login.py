"""The login and logout pages, and the language switch."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from storage import staff_sessions
from web.context import WebContext
from web.staff.auth import (
    LOGIN_CSRF_COOKIE,
    LoginResult,
    Logins,
    Staff,
    client_address,
    current_staff,
    forget_session_cookie,
    same_token,
    set_session_cookie,
)
from web.staff.pages import gettext, record_web, recorded, redirect_with, render
from web.templating import LANGUAGE_COOKIE


def _next_page(value: object) -> str:
    """Where to go after logging in: a staff page only (never another site)."""
    text = value if isinstance(value, str) else ""
    if text.startswith("/staff/") and not text.startswith("//") and "\\" not in text:
        return text
    return "/staff/cases"


class LoginPages:
    def __init__(self, context: WebContext) -> None:
        self.context = context
        self.logins = Logins(context)

    async def form(self, request: Request) -> Response:
        if await current_staff(self.context, request) is not None:
            return RedirectResponse(_next_page(request.query_params.get("next")), 303)
        return self._form(request)

    def _form(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = render(
            self.context,
            request,
            "staff/login.html",
            None,
            status,
            csrf=token,
            next=_next_page(request.query_params.get("next")),
            error=error,
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            path="/staff",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def submit(self, request: Request) -> Response:
        _ = gettext(self.context, request)
        form = await request.form()
        if not same_token(
            form.get("csrf") if isinstance(form.get("csrf"), str) else None,  # type: ignore[arg-type]
            request.cookies.get(LOGIN_CSRF_COOKIE, ""),
        ):
            return self._form(request, _("The form had expired; log in again."), 403)
        login = str(form.get("login", "")).strip()
        password = str(form.get("password", ""))
        address = client_address(request)
        result = await self.logins.attempt(login, password, address)
        if result.throttled:
            return self._form(request, _("Too many attempts from here; wait a minute."), 429)
        if result.token is None:
            await self._failed(request, login, result)
            if result.locked_until is not None:
                until = result.locked_until.astimezone(self.context.zone).strftime("%H:%M")
                error = _(
                    "Too many wrong passwords: this login is locked until {time}. "
                    "A supervisor can reset the password."
                ).format(time=until)
            else:
                error = _("Wrong login or password.")
            return self._form(request, error, 401)
        assert result.user is not None
        user = result.user
        await record_web(self.context, request, user.login, user.role, "login")
        response = RedirectResponse(_next_page(form.get("next")), 303)
        set_session_cookie(response, request, result.token, self.context.session_hours)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff")
        return response

    async def _failed(self, request: Request, login: str, result: LoginResult) -> None:
        detail: dict[str, object] = {}
        if result.locked_until is not None:
            detail["locked_until"] = result.locked_until.isoformat()
        if result.user is None:
            detail["unknown_login"] = True
        role = result.user.role if result.user else "-"
        await record_web(self.context, request, login[:100], role, "login_failed", None, detail)

    async def logout(self, request: Request, staff: Staff) -> Response:
        await staff_sessions.end_session(
            self.context.engine, staff.token_hash, self.context.clock.now()
        )
        await recorded(self.context, request, staff, "logout")
        response = redirect_with("/staff/login")
        forget_session_cookie(response)
        return response

    async def language(self, request: Request) -> Response:
        """The language switch: `/staff/language/en?back=/staff/cases`."""
        code = request.path_params["code"]
        response = RedirectResponse(quote(_next_page(request.query_params.get("back"))), 303)
        if code in ("zh_CN", "en"):
            response.set_cookie(
                LANGUAGE_COOKIE, code, max_age=365 * 86400, path="/staff", samesite="lax"
            )
        return response
