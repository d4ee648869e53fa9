"""Whether a case kept each of its time limits: met, missed, or still running.

A deadline is one promise with a due time and the moment it was kept (if it was).
Cases list their deadlines, so a further limit (resolution, callback, ...) is one more
entry, not a new kind of check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    MET = "met"
    MISSED = "missed"  # kept too late, or not kept and already overdue
    PENDING = "pending"  # not kept yet, still in time


@dataclass(frozen=True, slots=True)
class Deadline:
    name: str  # stable identifier, for example "first_response"
    due_at: datetime | None
    done_at: datetime | None

    def outcome(self, now: datetime) -> Outcome | None:
        """None when no limit was set."""
        return outcome(self.due_at, self.done_at, now)


def outcome(due_at: datetime | None, done_at: datetime | None, now: datetime) -> Outcome | None:
    """A deadline's outcome without the `Deadline`, for the ledger's million rows."""
    if due_at is None:
        return None
    if done_at is not None:
        return Outcome.MET if done_at <= due_at else Outcome.MISSED
    return Outcome.MISSED if now > due_at else Outcome.PENDING
