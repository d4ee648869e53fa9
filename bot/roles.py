"""What each staff role may do on the staff web and the API.

In the agents' Telegram group the desk's own rules apply (`bot.staff.DeskConfig`); these
roles are those of `complaintbot users add --role` and `complaintbot tokens create --role`.

- agent: works cases (reply, note, ask for information, resolve, claim, escalate, change
  the category, refer to a partner); masked ledger.
- supervisor: also assigns, reopens and extends; every figure; unmasked exports; the
  access log.
- auditor: reads everything a supervisor reads (cases, timelines, evidence, ledger,
  report, audit verification, the access log), every look recorded; changes nothing.
"""

from __future__ import annotations

from enum import StrEnum


class StaffRole(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


# The desk commands (`bot.desk.AGENT_COMMANDS`) a role runs on the web and the API;
# "reply" is the complainant's answer.
_AGENT_WORK = frozenset(
    {"reply", "note", "info", "resolve", "claim", "escalate", "category", "refer"}
)
_COMMANDS = {
    StaffRole.AGENT: _AGENT_WORK,
    StaffRole.SUPERVISOR: _AGENT_WORK | {"assign", "reopen", "extend"},
    StaffRole.AUDITOR: frozenset[str](),
}


def may_run(role: StaffRole, command: str) -> bool:
    """Whether `role` may run the desk command `command` on a case."""
    return command in _COMMANDS[role]


def overseer(role: StaffRole) -> bool:
    """Supervisors and auditors: every figure (per handler and team), the unmasked
    ledger (with a reason), the access log."""
    return role in (StaffRole.SUPERVISOR, StaffRole.AUDITOR)


def changes_nothing(role: StaffRole) -> bool:
    """The auditor's looks are recorded and it may not act on a case."""
    return role is StaffRole.AUDITOR
