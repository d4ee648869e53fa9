"""The case lifecycle: which action may move a case from which state, and where to.

    acknowledged ─claim/assign/reply─> in_progress ⇄ awaiting_user
          │                                │
          └──────────── resolve ───────────┴──> resolved ─reopen─> reopened ─claim─> in_progress
                                                    └── archive ──> archived

`acknowledged` is where a case starts: its receipt is queued in the same transaction
that creates it. Every accepted action is a timeline event with its actor.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain import CaseStatus

S = CaseStatus
_OPEN = frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.AWAITING_USER, S.REOPENED})


class Action(StrEnum):
    CLAIM = "claim"
    ASSIGN = "assign"
    REPLY = "reply"
    NOTE = "note"
    REQUEST_INFO = "info"
    USER_REPLIED = "user_replied"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    ARCHIVE = "archive"


# action → (states it is allowed in, state it leads to; None keeps the state)
_RULES: dict[Action, tuple[frozenset[CaseStatus], dict[CaseStatus, CaseStatus]]] = {
    Action.CLAIM: (_OPEN, {S.ACKNOWLEDGED: S.IN_PROGRESS, S.REOPENED: S.IN_PROGRESS}),
    Action.ASSIGN: (_OPEN, {S.ACKNOWLEDGED: S.IN_PROGRESS, S.REOPENED: S.IN_PROGRESS}),
    Action.REPLY: (
        _OPEN | {S.RESOLVED},
        {S.ACKNOWLEDGED: S.IN_PROGRESS, S.REOPENED: S.IN_PROGRESS},
    ),
    Action.NOTE: (frozenset(S), {}),
    Action.REQUEST_INFO: (_OPEN, {s: S.AWAITING_USER for s in _OPEN}),
    Action.USER_REPLIED: (frozenset(S) - {S.ARCHIVED}, {S.AWAITING_USER: S.IN_PROGRESS}),
    Action.RESOLVE: (_OPEN, {s: S.RESOLVED for s in _OPEN}),
    Action.REOPEN: (frozenset({S.RESOLVED}), {S.RESOLVED: S.REOPENED}),
    Action.ESCALATE: (_OPEN, {}),
    Action.ARCHIVE: (frozenset({S.RESOLVED}), {S.RESOLVED: S.ARCHIVED}),
}


class IllegalTransition(Exception):
    def __init__(self, action: Action, status: CaseStatus) -> None:
        super().__init__(f"{action} is not allowed in state {status}")
        self.action = action
        self.status = status


def is_open(status: CaseStatus) -> bool:
    """Open cases are the ones agents still owe an answer."""
    return status in _OPEN


def next_status(status: CaseStatus, action: Action) -> CaseStatus:
    """The state after `action`, or `IllegalTransition` when it is not allowed now."""
    allowed, moves = _RULES[action]
    if status not in allowed:
        raise IllegalTransition(action, status)
    return moves.get(status, status)


class Facts(StrEnum):
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not_confirmed"


class Nature(StrEnum):
    USER_ERROR = "user_error"
    MISUNDERSTOOD_POLICY = "misunderstood_policy"
    SYSTEM_FAULT = "system_fault"
    POOR_SERVICE = "poor_service"
    VIOLATION = "violation"


class Responsibility(StrEnum):
    USER = "user"
    PARTNER = "partner"
    COMPANY = "company"


class Severity(StrEnum):
    MINOR = "minor"
    MODERATE = "moderate"
    SERIOUS = "serious"


# The verification the regulator expects on every resolved case, in the order asked.
VERIFICATION: dict[str, type[StrEnum]] = {
    "facts": Facts,
    "nature": Nature,
    "responsibility": Responsibility,
    "severity": Severity,
}


def is_verification(name: str, value: str) -> bool:
    """Whether `value` is one of the answers of the verification's part `name` (what a
    button carries can be forged)."""
    kind = VERIFICATION.get(name)
    return kind is not None and value in {v.value for v in kind}


def parse_verification(args: str) -> tuple[dict[str, str], str, list[str]]:
    """Splits `facts=confirmed nature=system_fault … the summary` into the verification
    given, the remaining text, and the problems found (unknown field or value)."""
    given: dict[str, str] = {}
    problems: list[str] = []
    words = args.split()
    used = 0
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            break
        used += 1
        kind = VERIFICATION.get(key.lower())
        if kind is None:
            problems.append(f"{key}: " + ", ".join(VERIFICATION))
        elif value.lower() not in {v.value for v in kind}:
            problems.append(f"{key}: " + ", ".join(v.value for v in kind))
        else:
            given[key.lower()] = value.lower()
    rest = args.strip()
    for _ in range(used):
        rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    return given, rest.strip(), problems
