"""The case list (filters and full-text search) and one case's page: its whole story,
its evidence, what the staff user may do, and news pushed by server-sent events.

Search text is personal data (names, phone numbers): the search form is posted, the
filters kept with the session, and the list's URL carries only the page number.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from bot.domain import CaseStatus, Category, Source
from bot.labels import (
    category_label,
    source_label,
    status_label,
    timeline_label,
    verification_labels,
)
from bot.lifecycle import VERIFICATION
from bot.roles import StaffRole, may_run, overseer
from channels.registry import CHANNEL_NAMES, channel_label
from storage import chain, queries, staff_sessions
from storage.files import EvidenceFiles
from storage.search import CaseFilter, find_cases
from web.case_json import case_document
from web.context import WebContext
from web.staff.auth import Staff
from web.staff.pages import gettext, recorded, render

PER_PAGE = 50
# How often an open case page's stream looks for news, and says it is still there.
WATCH_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


class CasePages:
    def __init__(self, context: WebContext) -> None:
        self.context = context
        self.files = EvidenceFiles(context.data_dir)

    def _filter(self, search: dict[str, Any] | None) -> CaseFilter:
        found = search or {}
        zone = self.context.zone
        first, last = _day(found.get("from")), _day(found.get("to"))
        return CaseFilter(
            text=str(found.get("q") or "").strip(),
            status=found.get("status") or None,
            category=found.get("category") or None,
            channel=found.get("channel") or None,
            handler=found.get("handler") or None,
            overdue=bool(found.get("overdue")),
            escalated=bool(found.get("escalated")),
            received_from=datetime.combine(first, time(), zone) if first else None,
            received_to=datetime.combine(last + timedelta(days=1), time(), zone) if last else None,
        )

    async def search(self, request: Request, staff: Staff) -> Response:
        """The search form: its fields go with the session, then back to page 1."""
        form = await request.form()
        keys = ["q", "status", "category", "channel", "handler", "from", "to"]
        keys += ["overdue", "escalated"]
        search = {key: str(form.get(key, "")).strip()[:200] for key in keys}
        if form.get("clear"):
            search = {}
        await staff_sessions.keep_search(self.context.engine, staff.token_hash, search)
        return Response(status_code=303, headers={"location": "/staff/cases"})

    async def listing(self, request: Request, staff: Staff) -> Response:
        _ = gettext(self.context, request)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        search = staff.user.search or {}
        where = self._filter(search)
        found = await find_cases(
            self.context.engine, where, now=self.context.clock.now(), page=page, per_page=PER_PAGE
        )
        await recorded(
            self.context,
            request,
            staff,
            "case_list",
            detail={"page": page, "results": found.total, "searched": bool(where.text)},
        )
        pages = max(1, -(-found.total // PER_PAGE))
        # Supervisors see what was escalated to them, whatever the list shows.
        escalated = None
        if staff.role is StaffRole.SUPERVISOR:
            escalated = await find_cases(
                self.context.engine,
                CaseFilter(escalated=True),
                now=self.context.clock.now(),
                per_page=10,
            )
        return render(
            self.context,
            request,
            "staff/cases.html",
            staff,
            found=found,
            escalated=escalated,
            page=page,
            pages=pages,
            search=search,
            statuses=[(s.value, status_label(s, _)) for s in CaseStatus],
            categories=[(c.value, category_label(c, _)) for c in Category],
            channels=[(c, channel_label(c, _)) for c in CHANNEL_NAMES],
            status_name={s.value: status_label(s, _) for s in CaseStatus},
            category_name={c.value: category_label(c, _) for c in Category},
            channel_name=lambda code: channel_label(code, _),
            local=self._local,
        )

    def _local(self, moment: datetime | str | None) -> str:
        if moment is None:
            return "—"
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return moment.astimezone(self.context.zone).strftime("%Y-%m-%d %H:%M")

    async def _story(self, case_no: str) -> tuple[queries.CaseDetail, dict[str, Any]] | None:
        detail = await queries.case_detail(self.context.engine, case_no)
        if detail is None:
            return None
        document = case_document(
            detail, self.context.zone, self.files, now=self.context.clock.now()
        )
        return detail, document

    async def case(self, request: Request, staff: Staff) -> Response:
        case_no = request.path_params["case_no"].upper()
        _ = gettext(self.context, request)
        found = await self._story(case_no)
        if found is None:
            return render(
                self.context,
                request,
                "staff/refused.html",
                staff,
                404,
                reason=_("No case {case_no}.").format(case_no=case_no),
            )
        _detail, document = found
        checked = await chain.verify_database(self.context.engine, case_no)
        await recorded(self.context, request, staff, "case_view", case_no)
        return render(
            self.context,
            request,
            "staff/case.html",
            staff,
            **self._case_values(document, checked, staff, _),
        )

    async def story(self, request: Request, staff: Staff) -> Response:
        """The timeline and messages part of the page, fetched again on news."""
        case_no = request.path_params["case_no"].upper()
        _ = gettext(self.context, request)
        found = await self._story(case_no)
        if found is None:
            return Response(status_code=404)
        _detail, document = found
        checked = await chain.verify_database(self.context.engine, case_no)
        await recorded(self.context, request, staff, "case_view", case_no, {"part": "story"})
        return render(
            self.context,
            request,
            "staff/story.html",
            staff,
            **self._case_values(document, checked, staff, _),
        )

    def _case_values(
        self,
        document: dict[str, Any],
        checked: chain.Verification,
        staff: Staff,
        _: Any,
    ) -> dict[str, Any]:
        labels = verification_labels(_)
        return {
            "c": document,
            "seen": max((e.get("seq") or 0 for e in document["timeline"]), default=0),
            "chain_break": checked.breaks[0] if checked.breaks else None,
            "status_name": {s.value: status_label(s, _) for s in CaseStatus},
            "category_name": {c.value: category_label(c, _) for c in Category},
            "categories": [(c.value, category_label(c, _)) for c in Category],
            "sources": {s.value: source_label(s, _) for s in Source},
            "channel_name": lambda code: channel_label(code, _),
            "event_label": lambda event: timeline_label(event["event"], event, _),
            "verification": [
                (key, [(value.value, labels[value]) for value in kind])
                for key, kind in VERIFICATION.items()
            ],
            "verification_name": {str(k): v for k, v in labels.items()},
            "may": lambda command: may_run(staff.role, command),
            "overseer": overseer(staff.role),
            "local": self._local,
        }

    async def evidence(self, request: Request, staff: Staff) -> Response:
        """One stored file: shown inline (images, PDF) or downloaded; the checksum is
        checked first, and a file that fails it is not served."""
        case_no = request.path_params["case_no"].upper()
        _ = gettext(self.context, request)
        detail = await queries.case_detail(self.context.engine, case_no)
        number = int(request.path_params["number"])
        if detail is None or not 1 <= number <= len(detail.evidence):
            return render(
                self.context, request, "staff/refused.html", staff, 404, reason=_("No such file.")
            )
        item = detail.evidence[number - 1]
        state = self.files.check(item.path, item.sha256)
        inline = request.query_params.get("view") == "1" and _previewable(item.mime)
        await recorded(
            self.context,
            request,
            staff,
            "evidence_download",
            case_no,
            {"file": item.name, "sha256": item.sha256, "state": state, "inline": inline},
        )
        if state != "ok":
            reason = {
                "missing": _("The file is missing from storage."),
                "mismatch": _("The file no longer matches its checksum; it is not served."),
                "erased": _("The file was erased at the complainant's request."),
            }[state]
            return render(self.context, request, "staff/refused.html", staff, 410, reason=reason)
        return FileResponse(
            self.files.path(item.path),
            media_type=item.mime if inline else "application/octet-stream",
            filename=item.name,
            content_disposition_type="inline" if inline else "attachment",
            # A preview runs nothing: no script, no plug-in, its own origin.
            headers={
                "content-security-policy": "default-src 'none'; img-src 'self'; "
                "style-src 'unsafe-inline'; object-src 'self'; sandbox"
            },
        )

    async def events(self, request: Request, staff: Staff) -> Response:
        """Server-sent events: `changed` whenever the case's timeline grows."""
        case_no = request.path_params["case_no"].upper()
        # The page says which event it was drawn with, so that news between the page
        # and its stream are not missed.
        try:
            seen = int(request.query_params["seen"])
        except (KeyError, ValueError):
            seen = await queries.timeline_length(self.context.engine, case_no)
        return StreamingResponse(
            self._watch(request, case_no, seen),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    async def _watch(self, request: Request, case_no: str, seen: int) -> AsyncIterator[str]:
        engine = self.context.engine
        quiet = 0.0
        yield "retry: 3000\n\n"
        while not await request.is_disconnected():
            await asyncio.sleep(WATCH_SECONDS)
            now = await queries.timeline_length(engine, case_no)
            if now != seen:
                seen, quiet = now, 0.0
                yield f"event: changed\ndata: {now}\n\n"
                continue
            quiet += WATCH_SECONDS
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": still here\n\n"


def _previewable(mime: str) -> bool:
    return mime.startswith("image/") or mime == "application/pdf"
