"""The status page at /status: a case number and the phone or email given in the
complaint → a one-time code mailed to the case's email (`bot.status_codes`) → the case's
status, deadlines and public story.

Nothing of a case shows without its code. Once the code is entered, the visitor keeps a
signed cookie (`cb_status`, path /status, HttpOnly, `STATUS_MINUTES`) naming the case,
so the case page survives a reload; every look at it is recorded in the access log
(actor "complainant"), as the regulator wants every look at a case on record.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.commands import status_label
from bot.i18n import Translator
from bot.staff import local_time
from bot.status_codes import CODE_DIGITS, CODE_MINUTES, CodeAnswer, PublicCase, StatusCodes
from storage.access_log import AccessEntry, record_access
from storage.repository import SqlRepository
from storage.status_codes import SqlStatusCodes
from web.context import PublicSite, WebContext
from web.public.pages import (
    address_throttle,
    client_address,
    csrf_ok,
    gettext,
    limited,
    page_locale,
    render,
)

STATUS_COOKIE = "cb_status"
STATUS_MINUTES = 30
MAX_CASE_NO = 40
MAX_CONTACT = 200


@dataclass(frozen=True, slots=True)
class StoryLine:
    """One step of the story as the page shows it."""

    when: str
    title: str
    text: str | None


class StatusPages:
    """The three pages: the request form, the code form, the case."""

    def __init__(self, context: WebContext, site: PublicSite) -> None:
        self.context = context
        self.site = site
        repository = context.bot.repository
        # This process's dispatcher sends the code at once rather than at its next look.
        wake = repository.committed if isinstance(repository, SqlRepository) else None
        self.codes = StatusCodes(
            SqlStatusCodes(context.engine, wake),
            phone_region=context.bot.config.phone_region,
            mail_channel=site.mail_channel,
        )

    async def form(self, request: Request) -> Response:
        return self._form(request)

    async def ask(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form):
            return self._refused(request)
        _ = gettext(self.context, request)
        case_no, contact = _field(form, "case_no"), _field(form, "contact")
        if not case_no or not contact:
            error = _("Enter the case number and the phone number or email of the complaint.")
            return self._form(request, 400, error=error, case_no=case_no, contact=contact)
        if len(case_no) > MAX_CASE_NO or len(contact) > MAX_CONTACT:
            error = _("That does not look like a case number and a phone number or email.")
            return self._form(request, 400, error=error, case_no="", contact="")
        answer = await self.codes.ask_status_code(case_no, contact, self.context.clock.now())
        if answer is CodeAnswer.MAIL_OFF:
            error = _(
                "The status page cannot send codes here. Ask about your case on the "
                "channel you used to complain."
            )
            return self._form(request, 503, error=error, case_no=case_no, contact=contact)
        return self._code_form(request, case_no)

    async def enter(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form):
            return self._refused(request)
        _ = gettext(self.context, request)
        case_no, code = _field(form, "case_no"), _field(form, "code")
        now = self.context.clock.now()
        found = None
        if case_no and code and len(case_no) <= MAX_CASE_NO and len(code) <= 20:
            found = await self.codes.check_status_code(case_no, code, now)
        if found is None:
            error = _("That code is wrong or no longer valid. Ask for a new code if you need one.")
            return self._code_form(request, case_no[:MAX_CASE_NO], 400, error=error)
        response = RedirectResponse("/status/case", status_code=303)
        response.set_cookie(
            STATUS_COOKIE,
            _sign(self.site.secret_key, found.case.case_no, now.timestamp() + STATUS_MINUTES * 60),
            max_age=STATUS_MINUTES * 60,
            path="/status",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def case(self, request: Request) -> Response:
        now = self.context.clock.now()
        case_no = _signed_case(
            self.site.secret_key, request.cookies.get(STATUS_COOKIE, ""), now.timestamp()
        )
        found = await self.codes.public_case(case_no) if case_no else None
        if found is None:
            response = RedirectResponse("/status", status_code=303)
            response.delete_cookie(STATUS_COOKIE, path="/status")
            return response
        await record_access(
            self.context.engine,
            AccessEntry(
                at=now,
                actor="complainant",
                role="complainant",
                action="case_view",
                target=found.case.case_no,
                detail={"page": "status"},
                via="web",
                address=client_address(request),
            ),
        )
        return render(
            self.context, request, "public/status_case.html", **self._shown(request, found)
        )

    def _shown(self, request: Request, found: PublicCase) -> dict[str, Any]:
        tr = Translator(page_locale(self.context, request))
        zone = self.context.zone
        case = found.case

        def when(moment: datetime | None) -> str | None:
            return f"{local_time(moment, zone)} ({zone.key})" if moment else None

        return {
            "minutes": STATUS_MINUTES,
            "case_no": case.case_no,
            "subject": case.subject,
            "status": status_label(tr, case.status),
            "received_at": when(case.received_at),
            "response_due_at": None if case.first_response_at else when(case.response_due_at),
            "first_response_at": when(case.first_response_at),
            "resolution_due_at": None if case.resolved_at else when(case.resolution_due_at),
            "resolved_at": when(case.resolved_at),
            "story": [
                StoryLine(local_time(entry.at, zone), *_story_words(tr, entry.kind, entry.text))
                for entry in found.story
            ],
        }

    def _form(self, request: Request, status_code: int = 200, **values: Any) -> Response:
        values = {"error": None, "case_no": "", "contact": "", **values}
        return render(self.context, request, "public/status.html", status_code, **values)

    def _code_form(
        self, request: Request, case_no: str, status_code: int = 200, error: str | None = None
    ) -> Response:
        return render(
            self.context,
            request,
            "public/status_code.html",
            status_code,
            case_no=case_no,
            error=error,
            minutes=CODE_MINUTES,
            digits=CODE_DIGITS,
        )

    def _refused(self, request: Request) -> Response:
        _ = gettext(self.context, request)
        reason = _("This form has expired. Please reload the page and try again.")
        return render(self.context, request, "public/refused.html", 403, reason=reason)


def _story_words(tr: Translator, kind: str, text: str | None) -> tuple[str, str | None]:
    """The title of a story step in the page's language, and its text."""
    _ = tr.gettext
    titles = {
        "received": _("Complaint received"),
        "receipt_sent": _("Receipt sent to you"),
        "agent_message": _("Reply from us"),
        "info_requested": _("We asked you for more information"),
        "resolved": _("Resolved"),
        "reopened": _("Reopened"),
        "survey_answered": _("Your rating of our handling"),
        "archived": _("Closed"),
    }
    if kind == "survey_answered" and text is not None:
        text = _("{score} out of 5").format(score=text)
    return titles[kind], text


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _mac(key: bytes, case_no: str, expires: int) -> str:
    return hmac.new(key, f"status:{case_no}:{expires}".encode(), hashlib.sha256).hexdigest()


def _sign(key: bytes, case_no: str, expires_at: float) -> str:
    expires = int(expires_at)
    return f"{case_no}.{expires}.{_mac(key, case_no, expires)}"


def _signed_case(key: bytes, value: str, now: float) -> str | None:
    """The case the cookie names, when its signature holds and it has not expired."""
    if not key:
        return None  # no site key (WEB_SECRET_KEY): no signature can be trusted
    case_no, _dot, rest = value.partition(".")
    expires, _dot, mac = rest.partition(".")
    if not (case_no and expires.isdigit() and mac) or int(expires) <= now:
        return None
    if not hmac.compare_digest(mac, _mac(key, case_no, int(expires))):
        return None
    return case_no


def status_routes(
    context: WebContext, site: PublicSite, headers: list[Middleware]
) -> list[BaseRoute]:
    pages = StatusPages(context, site)
    throttle = address_throttle(site)
    return [
        Route("/status", pages.form, methods=["GET"], middleware=headers),
        Route(
            "/status", limited(context, throttle, pages.ask), methods=["POST"], middleware=headers
        ),
        Route(
            "/status/code",
            limited(context, throttle, pages.enter),
            methods=["POST"],
            middleware=headers,
        ),
        Route("/status/case", pages.case, methods=["GET"], middleware=headers),
    ]
