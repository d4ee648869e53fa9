"""The SLA policy: time limits per category, and the deadlines and timers they give a case.

A case gets its deadlines when it is created (stated in its receipt) and again when
its category changes; only a recorded agent action extends one. Each deadline brings
timers: reminders to agents before it, an escalation to supervisors after it. Timers
are rows the sweeps read through an index, never one scheduler job per case.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from bot.domain import Category
from scheduler.calendar import Calendar, Duration, parse_duration

LIMITS = ("receipt", "first_response", "resolution")
# Limits agents are reminded of; the receipt goes out by itself.
REMINDED_LIMITS = ("first_response", "resolution")


class PolicyError(Exception):
    """The policy file is wrong; the message names the file, the line and the problem."""


@dataclass(frozen=True, slots=True)
class CategoryPolicy:
    receipt: Duration
    first_response: Duration
    resolution: Duration
    reminders: tuple[float, ...]
    escalate_after: Duration
    pause_while_awaiting_user: bool
    quiet_notice: Duration | None
    pause_while_awaiting_partner: bool = False

    def limit(self, name: str) -> Duration:
        value: Duration = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    categories: dict[Category, CategoryPolicy]
    source: str

    def __getitem__(self, category: Category) -> CategoryPolicy:
        return self.categories[category]


@dataclass(frozen=True, slots=True)
class Deadlines:
    receipt: datetime
    first_response: datetime
    resolution: datetime

    def of(self, limit: str) -> datetime:
        value: datetime = getattr(self, limit)
        return value


def deadlines(policy: CategoryPolicy, calendar: Calendar, received_at: datetime) -> Deadlines:
    return Deadlines(*(calendar.add(received_at, policy.limit(limit)) for limit in LIMITS))


def limit_timers(
    policy: CategoryPolicy, calendar: Calendar, limit: str, start: datetime, due: datetime
) -> list[tuple[str, datetime]]:
    """The reminders before a deadline and the escalation after it, as (kind, due) pairs.

    A reminder at 80% of a limit comes when 80% of the time from `start` to `due` has
    passed, measured in working time when the limit is."""
    timers: list[tuple[str, datetime]] = []
    if limit in REMINDED_LIMITS:
        span = policy.limit(limit)
        total = calendar.working_between(start, due) if span.working else due - start
        for fraction in policy.reminders:
            part = Duration(total * fraction, working=span.working)
            timers.append((f"remind:{limit}:{round(fraction * 100)}", calendar.add(start, part)))
    timers.append((f"escalate:{limit}", calendar.add(due, policy.escalate_after)))
    return timers


def default_policy_text() -> str:
    return resources.files("scheduler").joinpath("sla_default.toml").read_text(encoding="utf-8")


def load_policy(path: Path | None = None) -> SlaPolicy:
    """The policy in `path`, or the packaged default; `PolicyError` when it is wrong."""
    source = str(path) if path else "the default SLA policy"
    try:
        text = path.read_text(encoding="utf-8") if path else default_policy_text()
    except OSError as error:
        raise PolicyError(f"SLA_POLICY_FILE {path}: cannot read it ({error.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: {error}") from None
    return _policy(data, text, source)


_DURATION_KEYS = ("receipt", "first_response", "resolution", "escalate_after")
_KNOWN_KEYS = {f.name for f in fields(CategoryPolicy)}
_BUILT_IN = CategoryPolicy(
    receipt=parse_duration("1wd"),
    first_response=parse_duration("24h"),
    resolution=parse_duration("15d"),
    reminders=(0.5, 0.8),
    escalate_after=parse_duration("0s"),
    pause_while_awaiting_user=True,
    quiet_notice=None,
)


def _policy(data: dict[str, Any], text: str, source: str) -> SlaPolicy:
    def fail(table: str, key: str | None, problem: str) -> PolicyError:
        line = _line_of(text, table, key)
        where = f"{source}, line {line}" if line else source
        name = f"[{table}] {key}" if key else f"[{table}]"
        return PolicyError(f"{where}: {name}: {problem}")

    known_tables = {"default"} | {c.value for c in Category}
    for table, values in data.items():
        if table not in known_tables:
            raise fail(table, None, f"unknown category; use {', '.join(sorted(known_tables))}")
        if not isinstance(values, dict):
            raise fail(table, None, "must be a table of settings")
    default = _category(_BUILT_IN, data.get("default", {}), "default", fail)
    categories = {
        category: _category(default, data.get(category.value, {}), category.value, fail)
        for category in Category
    }
    return SlaPolicy(categories, source)


def _category(
    base: CategoryPolicy, values: dict[str, Any], table: str, fail: Any
) -> CategoryPolicy:
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _KNOWN_KEYS:
            raise fail(table, key, f"unknown setting; use {', '.join(sorted(_KNOWN_KEYS))}")
        if key in _DURATION_KEYS or key == "quiet_notice":
            if key == "quiet_notice" and value == "":
                changes[key] = None
                continue
            if not isinstance(value, str):
                raise fail(table, key, 'must be a duration in quotes, like "2h" or "1wd"')
            try:
                changes[key] = parse_duration(value)
            except ValueError as error:
                raise fail(table, key, str(error)) from None
        elif key == "reminders":
            if not (
                isinstance(value, list)
                and all(isinstance(v, int | float) and 0 < v < 1 for v in value)
            ):
                raise fail(
                    table, key, "must be a list of fractions between 0 and 1, like [0.5, 0.8]"
                )
            changes[key] = tuple(sorted(float(v) for v in value))
        elif key in ("pause_while_awaiting_user", "pause_while_awaiting_partner"):
            if not isinstance(value, bool):
                raise fail(table, key, "must be true or false")
            changes[key] = value
    return replace(base, **changes)


def _line_of(text: str, table: str, key: str | None) -> int | None:
    """The line where `[table]` (or `key` inside it) is written, for error messages."""
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            in_table = header.group(1).strip('"') == table
            if in_table and key is None:
                return number
            continue
        if in_table and key is not None and re.match(rf"^\"?{re.escape(key)}\"?\s*=", stripped):
            return number
    return None


def describe(duration: Duration | timedelta) -> str:
    """A short form of a span for staff notices: `2h 10m`, `3d 4h`."""
    span = duration.amount if isinstance(duration, Duration) else duration
    seconds = max(int(span.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = " ".join(p for p in parts if p)
    return text or f"{seconds}s"
