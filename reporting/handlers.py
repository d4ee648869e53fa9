"""The quality report's figures per handler and per team.

Each case counts once, for its current handler (the ledger's "Handler(s)" column lists
everyone who held it; these figures follow the one holding it at the time of the
report). A handler is the staff user its agent is (`reporting.reading.STAFF_USER`), so
one person's Telegram and CLI agents count as one; an agent no staff user is counts on
its own. A team is the staff user's team; handlers without one, and the cases nobody
holds, count under no team (null). The cases nobody holds count under handler null
("unassigned"), so the handlers' cases, like the teams', add up to the report's.

The figures are the report's, restricted to the handler's (or team's) cases: the
spreads of minutes to the first response and of working hours to the resolution; the
time limits (met ÷ (met + missed), each limit and the three together); satisfaction
(the mean of the scores given, and scores at or above the threshold ÷ scores given);
the reopen rate (cases reopened at least once ÷ cases resolved at least once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reporting.rows import LedgerRow
from reporting.stats import LIMITS, Compliance, Doubles, compliance_json, ratio, spread, spread_json

_OUTCOMES = ("met", "missed", "pending", "none")


@dataclass(slots=True)
class _Handled:
    """What one handler's (or one team's) cases add up to."""

    cases: int = 0
    first_response: Doubles = field(default_factory=Doubles)
    resolution: Doubles = field(default_factory=Doubles)
    # (limit, outcome) → cases; outcome "none" when the case had no such limit
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    answered: int = 0
    score_total: int = 0
    satisfied: int = 0
    resolved_ever: int = 0
    reopened: int = 0

    def merge(self, other: _Handled) -> None:
        self.cases += other.cases
        self.first_response.extend(other.first_response)
        self.resolution.extend(other.resolution)
        self.outcomes.update(other.outcomes)
        self.answered += other.answered
        self.score_total += other.score_total
        self.satisfied += other.satisfied
        self.resolved_ever += other.resolved_ever
        self.reopened += other.reopened

    def compliance(self, limits: Iterable[str]) -> Compliance:
        count = {o: sum(self.outcomes[limit, o] for limit in limits) for o in _OUTCOMES}
        return Compliance(count["met"], count["missed"], count["pending"], count["none"])

    def figures(self) -> dict[str, Any]:
        limits_met = {limit: compliance_json(self.compliance((limit,))) for limit in LIMITS}
        return {
            "cases": self.cases,
            "first_response_minutes": spread_json(spread(self.first_response)),
            "resolution_working_hours": spread_json(spread(self.resolution)),
            "limits_met": {**limits_met, "all": compliance_json(self.compliance(LIMITS))},
            "satisfaction": {
                "answered": self.answered,
                "mean": round(self.score_total / self.answered, 2) if self.answered else None,
                "satisfied": self.satisfied,
                "rate": ratio(self.satisfied, self.answered),
            },
            "reopening": {
                "resolved_at_least_once": self.resolved_ever,
                "reopened": self.reopened,
                "rate": ratio(self.reopened, self.resolved_ever),
            },
        }


@dataclass(slots=True)
class _Handler:
    name: str | None  # None: unassigned
    login: str | None  # the staff user's; None for an agent no staff user is
    team: str | None
    handled: _Handled = field(default_factory=_Handled)


class HandlerTally:
    """The figures per handler and per team, gathered one ledger row at a time."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        # The staff user's login, else the agent's number; None for the unassigned.
        self.handlers: dict[str | int | None, _Handler] = {}

    def add(
        self, row: LedgerRow, first_response_minutes: float | None, resolution_hours: float | None
    ) -> None:
        """Counts `row` for its handler; the row's minutes to the first response and
        working hours to the resolution come computed (`QualityTally.add` has them)."""
        case = row.case
        key = case.handler_login or case.handler_id
        found = self.handlers.get(key)
        if found is None:
            found = self.handlers[key] = _Handler(
                (case.handler_name or str(key)) if key is not None else None,
                case.handler_login,
                case.handler_team,
            )
        handled = found.handled
        handled.cases += 1
        if first_response_minutes is not None:
            handled.first_response.append(first_response_minutes)
        if resolution_hours is not None:
            handled.resolution.append(resolution_hours)
        # An `Outcome` is its value (a `StrEnum`): counted under "met", "missed", "pending".
        outcomes = handled.outcomes
        outcomes["receipt", row.receipt or "none"] += 1
        outcomes["first_response", row.first_response or "none"] += 1
        outcomes["resolution", row.resolution or "none"] += 1
        if (score := case.survey_score) is not None:
            handled.answered += 1
            handled.score_total += score
            handled.satisfied += score >= self.threshold
        if case.resolved_at is not None or case.reopened_count:
            handled.resolved_ever += 1
            handled.reopened += case.reopened_count > 0

    def merge(self, later: HandlerTally) -> None:
        """Adds the handlers' figures of another tally (`QualityTally.merge`)."""
        for key, handler in later.handlers.items():
            found = self.handlers.get(key)
            if found is None:
                self.handlers[key] = handler
            else:
                found.handled.merge(handler.handled)

    def teams(self) -> dict[str | None, _Handled]:
        """Each team's cases: its handlers' added up."""
        teams: dict[str | None, _Handled] = {}
        for handler in self.handlers.values():
            teams.setdefault(handler.team, _Handled()).merge(handler.handled)
        return teams

    def failures(self, cases: int, answered: int, resolved_ever: int, reopened: int) -> int:
        """The figures per handler and per team against the report's: the handlers' cases,
        answered surveys, cases resolved at least once and reopened add up to the
        report's, and so do the teams'; each handler's cases are counted once per limit."""
        failures = 0
        for groups in ([h.handled for h in self.handlers.values()], list(self.teams().values())):
            failures += int(sum(g.cases for g in groups) != cases)
            failures += int(sum(g.answered for g in groups) != answered)
            failures += int(sum(g.resolved_ever for g in groups) != resolved_ever)
            failures += int(sum(g.reopened for g in groups) != reopened)
        for handler in self.handlers.values():
            handled = handler.handled
            failures += sum(handled.compliance((limit,)).total != handled.cases for limit in LIMITS)
        return failures

    def by_handler(self) -> list[dict[str, Any]]:
        """`metrics.json`'s `by_handler`: the most cases first (then by name), the
        unassigned ones last."""
        ordered = sorted(
            self.handlers.values(),
            key=lambda h: (h.name is None, -h.handled.cases, h.name or "", h.login or ""),
        )
        return [
            {"handler": h.name, "login": h.login, "team": h.team, **h.handled.figures()}
            for h in ordered
        ]

    def by_team(self) -> list[dict[str, Any]]:
        """`metrics.json`'s `by_team`: the most cases first (then by name), no team last."""
        teams = self.teams()
        ordered = sorted(teams, key=lambda t: (t is None, -teams[t].cases, t or ""))
        return [{"team": team, **teams[team].figures()} for team in ordered]
