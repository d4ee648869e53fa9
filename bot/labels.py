"""Names of the domain's values as staff read them (the desk, the ledger), in any locale.

Each function takes the gettext of the reader's locale, so one table of words serves
every place that shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.domain import CaseStatus, Category, Source
from bot.lifecycle import Facts, Nature, Responsibility, Severity
from bot.notice import notice_event_label

Gettext = Callable[[str], str]


def category_label(category: Category, _: Gettext) -> str:
    return {
        Category.CONSULTATION: _("Consultation"),
        Category.HELP_REQUEST: _("Help request"),
        Category.APPEAL: _("Appeal"),
        Category.SUGGESTION: _("Suggestion"),
        Category.REPORT: _("Report of wrongdoing"),
    }[category]


def status_label(status: CaseStatus, _: Gettext) -> str:
    return {
        CaseStatus.NEW: _("new"),
        CaseStatus.ACKNOWLEDGED: _("acknowledged"),
        CaseStatus.IN_PROGRESS: _("in progress"),
        CaseStatus.AWAITING_USER: _("awaiting the complainant"),
        CaseStatus.RESOLVED: _("resolved"),
        CaseStatus.REOPENED: _("reopened"),
        CaseStatus.ARCHIVED: _("archived"),
    }[status]


def verification_labels(_: Gettext) -> dict[str, str]:
    """Every value of the verification record (facts, nature, responsibility, severity)."""
    return {
        Facts.CONFIRMED: _("Facts confirmed"),
        Facts.NOT_CONFIRMED: _("Facts not confirmed"),
        Nature.USER_ERROR: _("User error"),
        Nature.MISUNDERSTOOD_POLICY: _("Misunderstood policy"),
        Nature.SYSTEM_FAULT: _("System fault"),
        Nature.POOR_SERVICE: _("Poor service"),
        Nature.VIOLATION: _("Violation"),
        Responsibility.USER: _("User responsible"),
        Responsibility.PARTNER: _("Partner responsible"),
        Responsibility.COMPANY: _("Company responsible"),
        Severity.MINOR: _("Minor"),
        Severity.MODERATE: _("Moderate"),
        Severity.SERIOUS: _("Serious"),
    }


def source_label(source: Source, _: Gettext) -> str:
    """Where a case entered from elsewhere (the API) came from."""
    return {
        Source.REGULATOR: _("Referred by the regulator"),
        Source.PHONE: _("By phone"),
        Source.WALK_IN: _("In person"),
        Source.LETTER: _("By letter"),
    }[source]


def timeline_label(kind: str, payload: dict[str, Any], _: Gettext) -> str | None:
    """A timeline event as staff read it, for the kinds that have words (the others
    are shown by their kind and payload)."""
    if kind == "privacy_notice":
        return notice_event_label(_, payload)
    return None
