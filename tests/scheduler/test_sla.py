"""The SLA policy file: the packaged default, and a broken file naming its line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain import Category
from scheduler.calendar import AlwaysOpen
from scheduler.sla import PolicyError, deadlines, limit_timers, load_policy


def test_the_default_policy_covers_every_category() -> None:
    policy = load_policy()
    assert set(policy.categories) == set(Category)
    assert str(policy[Category.HELP_REQUEST].first_response) == "2h"
    assert str(policy[Category.APPEAL].first_response) == "48h"
    assert str(policy[Category.APPEAL].resolution) == "15d"  # from [default]
    assert str(policy[Category.CONSULTATION].receipt) == "1wd"
    assert policy[Category.SUGGESTION].quiet_notice is None


def test_deadlines_and_timers_follow_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(
        '[default]\nfirst_response = "10h"\nresolution = "20h"\nreminders = [0.8, 0.5]\n'
        'escalate_after = "30m"\n',
        encoding="utf-8",
    )
    policy = load_policy(path)[Category.REPORT]
    start = datetime(2026, 11, 23, tzinfo=UTC)
    due = deadlines(policy, AlwaysOpen(), start)
    assert due.first_response == start + timedelta(hours=10)
    assert limit_timers(policy, AlwaysOpen(), "first_response", start, due.first_response) == [
        ("remind:first_response:50", start + timedelta(hours=5)),
        ("remind:first_response:80", start + timedelta(hours=8)),
        ("escalate:first_response", start + timedelta(hours=10, minutes=30)),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[default]\nfirst_response = "2 weeks"\n', "line 2: [default] first_response: '2 weeks'"),
        ("[appeal]\nresolution = 3\n", "line 2: [appeal] resolution: must be a duration in quotes"),
        ("[default]\n\nreminders = [0.5, 1.5]\n", "line 3: [default] reminders: must be a list"),
        ('[complaints]\nresolution = "1wd"\n', "line 1: [complaints]: unknown category"),
        ('[report]\nresolve = "1wd"\n', "line 2: [report] resolve: unknown setting"),
        ('[default]\npause_while_awaiting_user = "yes"\n', "must be true or false"),
        ('[default\nresolution = "1wd"\n', "(at line 1, column 9)"),
    ],
)
def test_a_broken_policy_names_the_line_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"SLA_POLICY_FILE .*missing\.toml: cannot read it"):
        load_policy(tmp_path / "missing.toml")
