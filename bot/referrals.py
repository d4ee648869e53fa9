"""Referrals of a case to a partner: how a referral's wait ended (or has not yet)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class ReferralOutcome(StrEnum):
    PENDING = "pending"  # not answered, and its deadline is still ahead
    ANSWERED = "answered"  # answered by its deadline
    ANSWERED_LATE = "answered_late"  # answered after its deadline
    MISSED = "missed"  # not answered, and its deadline has passed


def referral_outcome(
    due_at: datetime, answered_at: datetime | None, now: datetime
) -> ReferralOutcome:
    """Where a referral stands at `now`: the partner's first answer counts; an answer
    on the deadline itself is in time."""
    if answered_at is not None:
        return ReferralOutcome.ANSWERED if answered_at <= due_at else ReferralOutcome.ANSWERED_LATE
    return ReferralOutcome.MISSED if now > due_at else ReferralOutcome.PENDING
