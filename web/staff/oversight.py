"""The figures (the quality report of a period), the ledger download, and the access log.

- Figures: the same numbers as `complaintbot report`, computed on request for the chosen
  period; the per-handler and per-team figures only for supervisors and auditors.
- Ledger: masked for everyone; unmasked only for supervisors and auditors, with a reason,
  which the access log keeps with the export.
- Access log: supervisors and auditors; reading it is recorded too.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from bot.roles import overseer
from reporting.export import LedgerFormat, Period, export_ledger
from reporting.quality import quality_metrics
from reporting.reading import count_cases
from reporting.report import report_page
from reporting.rows import LedgerSheet, six_months_before
from storage import access_log
from web.context import WebContext
from web.staff.auth import Staff
from web.staff.pages import gettext, locale_of, recorded, render

# The report page is one self-contained document with its styles inside.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
HANDLER_KEYS = ("by_handler", "by_team")


def _period(request: Request, today: date) -> tuple[Period, str | None]:
    """The period in the query (from, to); the last month by default."""
    params = request.query_params
    try:
        first = date.fromisoformat(params["from"]) if params.get("from") else None
        last = date.fromisoformat(params["to"]) if params.get("to") else None
    except ValueError:
        return Period(today.replace(day=1), today), "bad"
    last = last or today
    first = first or (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    if first > last:
        return Period(last, last), "order"
    return Period(first, last), None


class Oversight:
    def __init__(self, context: WebContext) -> None:
        self.context = context

    def _today(self) -> date:
        return self.context.clock.now().astimezone(self.context.zone).date()

    async def figures(self, request: Request, staff: Staff) -> Response:
        _ = gettext(self.context, request)
        period, problem = _period(request, self._today())
        error = {
            "bad": _("Write the dates as YYYY-MM-DD."),
            "order": _("The period ends before it starts."),
        }.get(problem or "")
        return render(
            self.context,
            request,
            "staff/figures.html",
            staff,
            period=period,
            error=error,
            overseer=overseer(staff.role),
        )

    async def report(self, request: Request, staff: Staff) -> Response:
        """The report page itself, shown in the figures page's frame."""
        period, problem = _period(request, self._today())
        if problem:
            return Response(status_code=400)
        metrics = await quality_metrics(
            self.context.engine,
            self.context.zone,
            self.context.calendar,
            period,
            self.context.satisfied_threshold,
            self.context.clock.now(),
            customers=self.context.customers,
        )
        if not overseer(staff.role):
            for key in HANDLER_KEYS:
                metrics.pop(key, None)
        await recorded(
            self.context,
            request,
            staff,
            "report_view",
            f"{period.first}..{period.last}",
        )
        page = report_page(metrics, locale_of(request, self.context.default_locale))
        return HTMLResponse(page, headers={"content-security-policy": REPORT_CSP})

    async def ledger_form(self, request: Request, staff: Staff) -> Response:
        today = self._today()
        return render(
            self.context,
            request,
            "staff/ledger.html",
            staff,
            first=six_months_before(today),
            last=today,
            overseer=overseer(staff.role),
            error=None,
        )

    async def ledger(self, request: Request, staff: Staff) -> Response:
        _ = gettext(self.context, request)
        form = await request.form()
        today = self._today()

        def again(error: str, status: int) -> Response:
            return render(
                self.context,
                request,
                "staff/ledger.html",
                staff,
                status,
                first=str(form.get("from") or six_months_before(today)),
                last=str(form.get("to") or today),
                overseer=overseer(staff.role),
                error=error,
            )

        try:
            first = date.fromisoformat(str(form.get("from", "")))
            last = date.fromisoformat(str(form.get("to", "")))
            kind = LedgerFormat(str(form.get("format", "")))
        except ValueError:
            return again(_("Choose a period (YYYY-MM-DD) and a format."), 400)
        if first > last:
            return again(_("The period ends before it starts."), 400)
        unmasked = form.get("unmasked") == "1"
        reason = str(form.get("reason", "")).strip()
        if unmasked and not overseer(staff.role):
            await recorded(
                self.context,
                request,
                staff,
                "ledger_export",
                f"{first}..{last}",
                {"masked": False, "refused": True},
            )
            return again(_("Only supervisors and auditors may download the unmasked ledger."), 403)
        if unmasked and not reason:
            return again(_("Say why you need the unmasked ledger."), 400)
        return await self._export(request, staff, Period(first, last), kind, unmasked, reason)

    async def _export(
        self,
        request: Request,
        staff: Staff,
        period: Period,
        kind: LedgerFormat,
        unmasked: bool,
        reason: str,
    ) -> Response:
        context = self.context
        locale = locale_of(request, context.default_locale)
        sheet = LedgerSheet(locale, context.zone, masked=not unmasked)
        spool = context.data_dir / "exports"
        spool.mkdir(mode=0o700, exist_ok=True)
        # Made 0600 by mkstemp; removed once sent.
        handle, name = tempfile.mkstemp(suffix=f".{kind.value}", dir=spool)
        os.close(handle)
        now = context.clock.now()
        total = await count_cases(context.engine, *period.bounds(context.zone))
        written = await export_ledger(
            context.engine,
            Path(name),
            kind,
            sheet,
            context.calendar,
            period,
            now,
            total,
            long_running=True,
        )
        await recorded(
            context,
            request,
            staff,
            "ledger_export",
            f"{period.first}..{period.last}",
            {
                "masked": not unmasked,
                "reason": reason or None,
                "format": kind.value,
                "cases": written,
            },
        )
        filename = (
            f"ledger-{period.first}-{period.last}{'' if unmasked else '-masked'}.{kind.value}"
        )
        return FileResponse(
            name,
            filename=filename,
            media_type="text/csv"
            if kind is LedgerFormat.CSV
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            background=BackgroundTask(Path(name).unlink, missing_ok=True),
        )

    async def access(self, request: Request, staff: Staff) -> Response:
        _ = gettext(self.context, request)
        if not overseer(staff.role):
            return render(
                self.context,
                request,
                "staff/refused.html",
                staff,
                403,
                reason=_("Only supervisors and auditors see the access log."),
            )
        period, _problem = _period(request, self._today())
        start, end = period.bounds(self.context.zone)
        entries = await access_log.access_entries(self.context.engine, start, end)
        problems = await access_log.verify_access_log(self.context.engine)
        await recorded(
            self.context, request, staff, "access_log_view", f"{period.first}..{period.last}"
        )
        return render(
            self.context,
            request,
            "staff/access.html",
            staff,
            period=period,
            entries=list(reversed(entries))[:1000],
            total=len(entries),
            problems=problems,
            local=lambda moment: moment.astimezone(self.context.zone).strftime("%Y-%m-%d %H:%M:%S"),
            json_detail=_detail_text,
        )


def _detail_text(detail: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in detail.items())
