"""Words of the domain: categories, case states, case numbers, how the privacy notice
was given."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """First classification of a complaint (domain.md, item 3)."""

    CONSULTATION = "consultation"
    HELP_REQUEST = "help_request"
    APPEAL = "appeal"
    SUGGESTION = "suggestion"
    REPORT = "report"


# What replaces a person's data once erased (PIPL); kept as it is wherever shown.
ERASED = "[erased]"

# Outbox kinds that answer the complainant on an agent's behalf: the first one delivered
# is the case's first response.
RESPONSE_KINDS = frozenset({"agent_reply", "info_request", "resolution"})


class CaseStatus(StrEnum):
    """Where a case stands in its lifecycle; stored as these strings."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    AWAITING_USER = "awaiting_user"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ARCHIVED = "archived"


# Words that make a category obvious. A suggestion is offered only when exactly one
# category matches, so an ambiguous text never gets a confident wrong guess.
_CATEGORY_KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.CONSULTATION: ("咨询", "请问", "怎么", "如何", "question", "how do", "how to"),
    Category.HELP_REQUEST: ("求助", "帮忙", "帮帮", "无法", "不能用", "help me", "can't", "cannot"),
    Category.APPEAL: (
        "申诉",
        "扣费",
        "扣了",
        "多扣",
        "乱收费",
        "多收",
        "退款",
        "封号",
        "被封",
        "charged",
        "refund",
        "appeal",
        "overcharg",
    ),
    Category.SUGGESTION: ("建议", "希望增加", "suggest", "would be nice", "feature request"),
    Category.REPORT: ("举报", "诈骗", "违法", "骚扰", "fraud", "scam", "report"),
}


def suggest_category(text: str) -> Category | None:
    """The category the text obviously belongs to, or None when it is not obvious."""
    lowered = text.casefold()
    matches = [
        category
        for category, words in _CATEGORY_KEYWORDS.items()
        if any(word in lowered for word in words)
    ]
    return matches[0] if len(matches) == 1 else None


CASE_NO_PATTERN = re.compile(r"^(?P<prefix>[A-Z][A-Z0-9]{0,9})-(?P<day>\d{8})-(?P<serial>\d{4,})$")


def format_case_no(prefix: str, day: date, serial: int) -> str:
    return f"{prefix}-{day:%Y%m%d}-{serial:04d}"


def looks_like_case_no(text: str) -> bool:
    return CASE_NO_PATTERN.match(text.strip().upper()) is not None


_CASE_NO_IN_TEXT = re.compile(r"\b([A-Z][A-Z0-9]{0,9}-\d{8}-\d{4,})\b")


def case_numbers_in(text: str) -> list[str]:
    """Every case number written in `text` (a mail's subject), upper-cased, in order."""
    return _CASE_NO_IN_TEXT.findall(text.upper())


class Source(StrEnum):
    """Where a case entered from elsewhere came from."""

    REGULATOR = "regulator"
    PHONE = "phone"
    WALK_IN = "walk_in"
    LETTER = "letter"


class NoticeHow(StrEnum):
    """How a complainant was given the notice, as the timeline records it."""

    SHOWN_IN_CHAT = "shown_in_chat"  # in the chat's greeting, before the first question
    AGREED_ON_WEB = "agreed_on_web"  # agreed to on the channel's page before writing
    MAIL_RECEIPT = "mail_receipt"  # a line in the receipt of a complaint by mail
    ENTERED_BY_STAFF = "entered_by_staff"  # entered from elsewhere: not shown by us


@dataclass(frozen=True, slots=True)
class NoticeGiven:
    """The `privacy_notice` event of a case: which version, agreed to or only shown,
    and how. A channel whose page asks for agreement (the web form) opens its case
    with `NoticeGiven.agreed_to(version)`."""

    version: str
    agreed: bool
    how: NoticeHow

    @classmethod
    def agreed_to(cls, version: str) -> NoticeGiven:
        """Agreed to on the channel's own page before filing."""
        return cls(version, True, NoticeHow.AGREED_ON_WEB)

    @classmethod
    def shown(cls, version: str, how: NoticeHow) -> NoticeGiven:
        return cls(version, False, how)

    @property
    def with_receipt(self) -> bool:
        """Given as the case opened (with its receipt), not before the complainant wrote."""
        return self.how in (NoticeHow.MAIL_RECEIPT, NoticeHow.ENTERED_BY_STAFF)

    def payload(self) -> dict[str, Any]:
        return {"version": self.version, "agreed": self.agreed, "how": self.how.value}
