"""`complaintbot report`: the service-quality report of a period, written to a directory.

    DIR/report.html     one self-contained page (styles and charts inside), opens offline
    DIR/metrics.json    every figure of the page, for scripts and for cross-checking
    DIR/charts/*.svg    the charts as image files

The figures come from `reporting.quality.quality_metrics`; this module draws and writes
them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from bot.domain import CaseStatus, Category
from bot.i18n import Translator
from bot.labels import category_label, status_label
from channels.registry import channel_label
from reporting import charts
from reporting.tally import LIMITS
from storage.files import private_directory, write_private_text

TEMPLATES = Path(__file__).parent / "templates"
_CATEGORIES = {c.value for c in Category}


def write_report(metrics: dict[str, Any], directory: Path, locale: str) -> Path:
    """Writes report.html, metrics.json and charts/ into `directory` (made if missing);
    returns the page's path."""
    _ = Translator(locale).gettext
    drawn = _charts(metrics, _)
    # Closed to other users, whatever the umask: the report is about the complainants.
    private_directory(directory / "charts")
    for name, image in drawn.items():
        write_private_text(directory / "charts" / f"{name}.svg", image)
    write_private_text(
        directory / "metrics.json", json.dumps(metrics, ensure_ascii=False, indent=2)
    )
    page = directory / "report.html"
    write_private_text(page, _page(metrics, drawn, locale, _))
    return page


def report_page(metrics: dict[str, Any], locale: str) -> str:
    """The report's page alone (charts inside), as the staff web shows it."""
    _ = Translator(locale).gettext
    return _page(metrics, _charts(metrics, _), locale, _)


def check_descriptions(_: Callable[[str], str]) -> dict[str, str]:
    """What each of the report's consistency checks asserts, in the reader's words."""
    return {
        "weeks_add_up": _("Cases by week add up to all cases"),
        "channels_add_up": _("Cases by channel add up to all cases"),
        "categories_add_up": _("Cases by category add up to all cases"),
        "time_limit_outcomes_add_up": _(
            "Each case is counted once per time limit (met, missed, pending or no limit)"
        ),
        "satisfaction_adds_up": _(
            "Scores add up to the answers; answers do not outnumber the surveys sent"
        ),
        "complaint_rate_adds_up": _(
            "Complaints and complaint rates by category add up to the whole complaint rate"
        ),
        "fault_handling_adds_up": _(
            "System faults by week add up to the period's: cases, resolution times and "
            "each case counted once by its resolution time limit"
        ),
        "partners_add_up": _(
            "Referrals by partner add up to all referrals; each partner's outcomes add up "
            "to its referrals, each answer has a response time, and no case waited for a "
            "partner longer than it took to resolve"
        ),
        "handlers_add_up": _(
            "Cases, satisfaction answers, resolved and reopened cases by handler, and by "
            "team, add up to the period's; each handler's cases are counted once per time "
            "limit"
        ),
        "receipt_not_before_received": _("No receipt sent before its case was received"),
        "first_response_not_before_received": _("No first response before its case was received"),
        "first_response_not_before_receipt": _("No first response before the receipt"),
        "resolved_not_before_received": _("No case resolved before it was received"),
        "survey_not_before_received": _("No satisfaction survey before its case was received"),
        "answer_not_before_survey": _("No satisfaction answer before the survey was sent"),
        "status_agrees_with_resolution": _(
            "Resolved and archived cases, and only they, have a resolution time"
        ),
        "nature_agrees_with_resolution": _(
            "Cases resolved at least once, and only they, have a verification nature"
        ),
        "score_between_1_and_5": _("Every satisfaction score is between 1 and 5"),
        "partner_times_in_order": _(
            "No case referred to a partner before it was received, no partner answer "
            "before it was asked"
        ),
    }


def _limit_names(_: Callable[[str], str]) -> dict[str, str]:
    return {
        "receipt": _("Receipt"),
        "first_response": _("First response"),
        "resolution": _("Resolution"),
    }


def _category(code: str, _: Callable[[str], str]) -> str:
    return category_label(Category(code), _) if code in _CATEGORIES else code


def _charts(metrics: dict[str, Any], _: Callable[[str], str]) -> dict[str, str]:
    volume = metrics["volume"]
    weeks = list(volume["by_week"])
    times = metrics["times"]
    categories = list(metrics["time_limits"]["by_category"])
    limits = _limit_names(_)
    satisfaction = metrics["satisfaction"]
    return {
        "volume_by_week": charts.bars(
            _("Cases received per week (week starting)"),
            [week[5:] for week in weeks],
            list(volume["by_week"].values()),
        ),
        "volume_by_channel": charts.bars(
            _("Cases by channel"),
            [channel_label(c, _) for c in volume["by_channel"]],
            list(volume["by_channel"].values()),
            horizontal=True,
        ),
        "volume_by_category": charts.bars(
            _("Cases by category"),
            [_category(c, _) for c in volume["by_category"]],
            list(volume["by_category"].values()),
            horizontal=True,
        ),
        "times": charts.times(
            _("How long cases waited"),
            [
                (
                    _("Receipt (minutes)"),
                    _("min"),
                    times["receipt_minutes"]["median"],
                    times["receipt_minutes"]["p90"],
                ),
                (
                    _("First response (minutes)"),
                    _("min"),
                    times["first_response_minutes"]["median"],
                    times["first_response_minutes"]["p90"],
                ),
                (
                    _("Resolution (working hours)"),
                    _("h"),
                    times["resolution_working_hours"]["median"],
                    times["resolution_working_hours"]["p90"],
                ),
            ],
            _,
        ),
        "time_limits": charts.compliance(
            _("Time limits met, by category"),
            [_category(c, _) for c in categories],
            [
                (
                    limits[limit],
                    [metrics["time_limits"]["by_category"][c][limit]["rate"] for c in categories],
                )
                for limit in LIMITS
            ],
        ),
        "satisfaction": charts.bars(
            _("Satisfaction scores given (1 = very dissatisfied, 5 = very satisfied)"),
            list(satisfaction["distribution"]),
            list(satisfaction["distribution"].values()),
            color=charts.GREEN,
        ),
        "fault_handling": _fault_chart(metrics["fault_handling"], _),
        # Left out of the metrics for a reader who may not see them (the staff web).
        **(
            {"handlers": _handler_chart(metrics["by_handler"], _)}
            if "by_handler" in metrics
            else {}
        ),
    }


def _fault_chart(faults: dict[str, Any], _: Callable[[str], str]) -> str:
    weeks = faults["by_week"]
    return charts.weekly_times(
        _("System faults: working hours to resolution, by week received"),
        [f"{found['iso_week'][5:]}\n{monday[5:]}" for monday, found in weeks.items()],
        [found["resolution_working_hours"]["median"] for found in weeks.values()],
        [found["resolution_working_hours"]["p90"] for found in weeks.values()],
        _("h"),
        _,
    )


def handler_label(handler: dict[str, Any], _: Callable[[str], str]) -> str:
    """A row of `by_handler` as the page names it."""
    return handler["handler"] if handler["handler"] is not None else _("Unassigned")


def _handler_chart(handlers: list[dict[str, Any]], _: Callable[[str], str]) -> str:
    return charts.cases_and_rates(
        _("Cases by current handler"),
        [handler_label(h, _) for h in handlers],
        [h["cases"] for h in handlers],
        [h["limits_met"]["all"]["rate"] for h in handlers],
        (_("Cases"), _("Time limits met (%)")),
    )


def _page(metrics: dict[str, Any], drawn: dict[str, str], locale: str, _: Any) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    statuses = {s.value: status_label(s, _) for s in CaseStatus}
    return environment.get_template("report.html").render(
        m=metrics,
        _=_,
        ngettext=Translator(locale).ngettext,
        lang="zh-CN" if locale.startswith("zh") else "en",
        images={
            name: "data:image/svg+xml;base64," + base64.b64encode(image.encode()).decode()
            for name, image in drawn.items()
        },
        limits=_limit_names(_),
        checks=check_descriptions(_),
        category=lambda code: _category(code, _),
        channel=lambda code: channel_label(code, _),
        status=lambda code: statuses.get(code, code),
        percent=_percent,
        handler=lambda found: handler_label(found, _),
        number=charts.number,
    )


def _percent(rate: float | None) -> str:
    return f"{rate:.1%}" if rate is not None else "—"
