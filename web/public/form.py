"""The plain complaint form at /complaint: works without JavaScript, files a case on the
web channel through `ComplaintBot.file_form`, and answers with the receipt.

A post is refused before anything is kept when its CSRF token is wrong. A post with
the honeypot field (`website`, hidden from people) filled is a robot's: it is shown a
thank-you page and nothing is filed. Any other post is kept as received (the raw
updates, under the form's one-time submission id, without the files' bytes) before the
bot checks and files it; the same form posted twice shows the same receipt.

Files are read only up to WEB_MAX_UPLOAD_MB each; the bot decides what they are by
their bytes.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.domain import Category
from bot.file_kinds import ACCEPTED
from bot.forms import MAX_FILES, FormComplaint, FormFiled
from bot.labels import category_label
from bot.messages import Attachment
from bot.staff import local_time
from channels.web import CHANNEL
from storage.raw_updates import SqlRawUpdates
from web.context import PublicSite, WebContext
from web.public.pages import (
    address_throttle,
    csrf_ok,
    gettext,
    limited,
    page_locale,
    render,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024
HONEYPOT = "website"
TEXT_FIELDS = ("name", "phone", "email", "category", "subject", "description", "expectation")
_SUBMISSION = re.compile(r"[A-Za-z0-9_-]{16,64}")


def form_routes(context: WebContext, headers: list[Middleware]) -> list[BaseRoute]:
    site = context.public
    assert site is not None
    page = ComplaintForm(context, site)
    endpoint = limited(context, address_throttle(site), page.handle)
    return [Route("/complaint", endpoint, methods=["GET", "POST"], middleware=headers)]


class ComplaintForm:
    """The form page, its post and the receipt."""

    def __init__(self, context: WebContext, site: PublicSite) -> None:
        self.context = context
        self.site = site
        self.raw = SqlRawUpdates(context.engine, context.clock)
        # Every file at its limit, and room for the text fields.
        self.body_limit = MAX_FILES * site.max_upload_mb * MB + 2 * MB

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post(request)
        return self.form_page(request, {}, {})

    def form_page(
        self,
        request: Request,
        values: dict[str, str],
        problems: dict[str, str],
        *,
        files_dropped: bool = False,
    ) -> Response:
        """The form, with what was typed and each field's problem; a new submission id."""
        _ = gettext(self.context, request)
        return render(
            self.context,
            request,
            "public/complaint.html",
            400 if problems else 200,
            values={key: values.get(key, "") for key in TEXT_FIELDS},
            consented=bool(values.get("consent")),
            problems=problems,
            labels=field_labels(_),
            files_dropped=files_dropped,
            categories=[(c.value, category_label(c, _)) for c in Category],
            submission=secrets.token_urlsafe(24),
            accept=ACCEPTED,
            max_mb=self.site.max_upload_mb,
            max_files=MAX_FILES,
            privacy_url=self._notice_url(),
        )

    async def post(self, request: Request) -> Response:
        _ = gettext(self.context, request)
        # Checked here rather than by the route's `max_body_size`, whose plain-text
        # answer would replace this page. A browser always says how long its form is.
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            return self._refused(
                request, 411, _("The form could not be read. Please open it again and resend.")
            )
        if int(length) > self.body_limit:
            return self._refused(
                request,
                413,
                _(
                    "The files are too large together: at most {count} files of {limit} MB "
                    "each. Please send fewer or smaller files."
                ).format(count=MAX_FILES, limit=self.site.max_upload_mb),
            )
        try:
            async with request.form(max_files=MAX_FILES * 2, max_fields=40) as form:
                if not csrf_ok(request, form):
                    return self._refused(
                        request,
                        403,
                        _("This form has expired. Please open it again and send it once more."),
                    )
                if str(form.get(HONEYPOT) or "").strip():
                    log.info("complaint form with the honeypot filled: nothing filed")
                    return render(
                        self.context, request, "public/complaint_receipt.html", filed=None
                    )
                return await self._file(request, form)
        except HTTPException:
            # Starlette's answer to a form it could not parse (too many files or fields,
            # a field over its size).
            return self._refused(
                request, 400, _("The form could not be read. Please open it again and resend.")
            )

    async def _file(self, request: Request, form: FormData) -> Response:
        values = {key: str(form.get(key) or "") for key in TEXT_FIELDS}
        if form.get("consent"):
            values["consent"] = "yes"
        given = str(form.get("submission") or "")
        submission = given if _SUBMISSION.fullmatch(given) else secrets.token_urlsafe(24)
        files = await self._uploads(form)
        complaint = self._complaint(request, submission, values, files)
        key = f"form:{submission}"
        try:
            await self.raw.keep(CHANNEL, [(key, complaint.raw())])
        except IntegrityError:
            # The same form posted twice at once: the other post kept it; the bot files
            # it once (under the submission's lock) and both show the same receipt.
            log.info("complaint form %s already kept", key)
        result = await self.context.bot.file_form(CHANNEL, complaint)
        await self.raw.mark(CHANNEL, key, "handled")
        if isinstance(result, FormFiled):
            return self._receipt(request, result)
        return self.form_page(request, values, result.problems, files_dropped=bool(complaint.files))

    def _complaint(
        self,
        request: Request,
        submission: str,
        values: dict[str, str],
        files: tuple[Attachment, ...],
    ) -> FormComplaint:
        return FormComplaint(
            submission=submission,
            locale=page_locale(self.context, request),
            name=values["name"],
            phone=values["phone"],
            email=values["email"],
            category=values["category"],
            subject=values["subject"],
            description=values["description"],
            expectation=values["expectation"],
            files=files,
            consent=self._notice_version() if values.get("consent") else None,
            upload_limit_mb=self.site.max_upload_mb,
        )

    async def _uploads(self, form: FormData) -> tuple[Attachment, ...]:
        """The chosen files; one over the limit is not read (its `data` is None)."""
        limit = self.site.max_upload_mb * MB
        files: list[Attachment] = []
        for item in form.getlist("evidence"):
            # A file input left empty is posted as a nameless, empty file.
            if not isinstance(item, UploadFile) or not item.filename:
                continue
            name = _file_name(item.filename)
            claimed = item.content_type or "application/octet-stream"
            size = item.size if item.size is not None else limit + 1
            if size > limit:
                files.append(Attachment(name, claimed, None, size))
                continue
            data = await item.read()
            files.append(Attachment(name, claimed, data, len(data)))
        return tuple(files)

    def _receipt(self, request: Request, filed: FormFiled) -> Response:
        _ = gettext(self.context, request)
        zone = self.context.zone
        return render(
            self.context,
            request,
            "public/complaint_receipt.html",
            filed=filed,
            category=category_label(filed.category, _),
            received=local_time(filed.received_at, zone),
            respond_by=local_time(filed.respond_by, zone) if filed.respond_by else None,
            resolve_by=local_time(filed.resolve_by, zone) if filed.resolve_by else None,
            zone=zone.key,
        )

    def _refused(self, request: Request, status: int, reason: str) -> Response:
        return render(
            self.context, request, "public/refused.html", status, reason=reason, retry_after=None
        )

    def _notice_version(self) -> str:
        return self.context.bot.config.privacy.version

    def _notice_url(self) -> str:
        return self.context.bot.config.privacy.url or "/privacy"


def field_labels(_: Any) -> dict[str, str]:
    """Each field's name as the form's labels and its problem summary say it."""
    return {
        "name": _("Your name or organisation"),
        "contact": _("Contact"),
        "phone": _("Mobile phone"),
        "email": _("Email"),
        "category": _("Kind of request"),
        "subject": _("Company, product or service complained about"),
        "description": _("What happened"),
        "evidence": _("Evidence"),
        "expectation": _("Expected outcome"),
        "consent": _("Privacy notice"),
    }


def _file_name(given: str) -> str:
    """The file's own name, without a folder some browsers send along."""
    name = given.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:200] or "file"
