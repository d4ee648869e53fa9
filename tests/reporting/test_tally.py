"""The quality report's figures and its own checks, from ledger rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporting.rows import ledger_row
from reporting.tally import QualityTally, spread
from scheduler.calendar import AlwaysOpen
from tests.reporting.test_rows import ledger_case as _case

SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(days=30)


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([], None, None),
        ([5.0], 5.0, 5.0),
        ([1.0, 2.0], 1.5, 2.0),
        ([3.0, 1.0, 2.0], 2.0, 3.0),
        # Nearest rank: the 9th of ten values, not an interpolation.
        ([float(v) for v in range(1, 11)], 5.5, 9.0),
        ([float(v) for v in range(1, 12)], 6.0, 10.0),
    ],
)
def test_median_and_90th_percentile(values: list[float], median: float | None, p90: float) -> None:
    found = spread(values)
    assert (found.count, found.median, found.p90) == (len(values), median, p90)


def tally_of(*cases: dict[str, object]) -> QualityTally:
    tally = QualityTally(date(2026, 11, 1), date(2026, 11, 30), SHANGHAI, threshold=4)
    for number, fields in enumerate(cases):
        case = _case(
            **{"case_no": f"TS-20261120-{number + 1:04d}", "received_at": RECEIVED, **fields}
        )
        tally.add(ledger_row(case, AlwaysOpen(), NOW))
    return tally


def test_every_week_of_the_period_is_listed_quiet_ones_as_zero() -> None:
    metrics = tally_of({}, {"received_at": datetime(2026, 11, 29, 17, 0, tzinfo=UTC)}).metrics(NOW)
    # 29 November 17:00 UTC is Monday 30 November in Shanghai: the last week.
    assert metrics["volume"]["by_week"] == {
        "2026-10-26": 0,
        "2026-11-02": 0,
        "2026-11-09": 0,
        "2026-11-16": 1,
        "2026-11-23": 0,
        "2026-11-30": 1,
    }


def test_time_limits_rate_met_over_met_and_missed_only() -> None:
    due = RECEIVED + timedelta(hours=1)
    metrics = tally_of(
        {"response_due_at": due, "first_response_at": due - timedelta(minutes=1)},
        {"response_due_at": due, "first_response_at": due + timedelta(minutes=1)},
        {"response_due_at": NOW + timedelta(hours=1)},  # still running
        {},
    ).metrics(NOW)
    first = metrics["time_limits"]["all"]["first_response"]
    assert first == {"met": 1, "missed": 1, "pending": 1, "no_limit": 1, "rate": 0.5}
    assert metrics["time_limits"]["by_category"]["appeal"]["first_response"] == first
    assert metrics["time_limits"]["by_category"]["report"]["first_response"]["rate"] is None


def test_impossible_rows_are_named_by_their_checks() -> None:
    metrics = tally_of(
        {"receipt_sent_at": RECEIVED + timedelta(minutes=2)},
        {  # answered before the receipt
            "receipt_sent_at": RECEIVED + timedelta(minutes=2),
            "first_response_at": RECEIVED + timedelta(minutes=1),
        },
        {"status": "archived"},  # archived, never resolved
        {"survey_score": 7, "survey_asked_at": RECEIVED, "resolved_at": RECEIVED},
    ).metrics(NOW)
    failed = {c["name"]: c["cases"] for c in metrics["checks"] if not c["passed"]}
    assert failed == {
        "first_response_not_before_receipt": ["TS-20261120-0002"],
        "status_agrees_with_resolution": ["TS-20261120-0003", "TS-20261120-0004"],
        "score_between_1_and_5": ["TS-20261120-0004"],
    }
    assert metrics["checks_failed"] == 3


def test_unresolved_cases_list_the_overdue_first() -> None:
    metrics = tally_of(
        {"resolution_due_at": NOW + timedelta(days=1)},
        {"resolution_due_at": NOW - timedelta(days=1), "handlers": ("Agent li",)},
        {"resolved_at": RECEIVED + timedelta(hours=2), "status": "resolved"},
    ).metrics(NOW)
    assert [(c["case_no"], c["overdue"]) for c in metrics["unresolved"]] == [
        ("TS-20261120-0002", True),
        ("TS-20261120-0001", False),
    ]
    assert metrics["unresolved"][0]["handlers"] == ["Agent li"]
    assert metrics["resolution"] == {"resolved": 1, "rate": round(1 / 3, 4)}
