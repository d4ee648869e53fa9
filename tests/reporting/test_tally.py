"""The quality report's figures and its own checks, from ledger rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporting.layout import Referred
from reporting.rows import ledger_row
from reporting.stats import spread
from reporting.tally import NO_CUSTOMERS, Customers, QualityTally
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
        {"nature": "system_fault"},  # a verification, never resolved
    ).metrics(NOW)
    failed = {c["name"]: c["cases"] for c in metrics["checks"] if not c["passed"]}
    assert failed == {
        "first_response_not_before_receipt": ["TS-20261120-0002"],
        "status_agrees_with_resolution": ["TS-20261120-0003", "TS-20261120-0004"],
        # Resolved without its verification, and the reverse.
        "nature_agrees_with_resolution": ["TS-20261120-0004", "TS-20261120-0005"],
        "score_between_1_and_5": ["TS-20261120-0004"],
    }
    assert metrics["checks_failed"] == 4


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


def resolved(hours: float, nature: str, **fields: object) -> dict[str, object]:
    """A case resolved `hours` after it was received (round the clock), with a resolution
    limit of five hours."""
    received = fields.pop("received_at", RECEIVED)
    assert isinstance(received, datetime)
    return {
        "received_at": received,
        "resolved_at": received + timedelta(hours=hours),
        "resolution_due_at": received + timedelta(hours=5),
        "status": "resolved",
        "nature": nature,
        **fields,
    }


def test_fault_handling_counts_only_system_faults_per_week() -> None:
    next_week = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday, week of 23 November
    metrics = tally_of(
        resolved(2, "system_fault"),
        resolved(10, "system_fault"),
        resolved(1, "system_fault"),
        resolved(100, "user_error"),
        resolved(0.5, "poor_service"),
        resolved(4, "system_fault", received_at=next_week),
        {  # reopened: still a fault, not resolved now, its limit still running
            "received_at": next_week,
            "nature": "system_fault",
            "reopened_count": 1,
            "status": "reopened",
            "resolution_due_at": NOW + timedelta(days=1),
        },
        {"received_at": next_week},  # not verified yet
    ).metrics(NOW)
    faults = metrics["fault_handling"]
    assert faults["nature"] == "system_fault"
    assert faults["by_week"]["2026-11-16"] == {
        "iso_week": "2026-W47",
        "cases": 3,
        "resolution_working_hours": {"count": 3, "median": 2.0, "p90": 10.0},
        "resolution_limit": {"met": 2, "missed": 1, "pending": 0, "no_limit": 0, "rate": 0.6667},
    }
    assert faults["by_week"]["2026-11-23"] == {
        "iso_week": "2026-W48",
        "cases": 2,
        "resolution_working_hours": {"count": 1, "median": 4.0, "p90": 4.0},
        "resolution_limit": {"met": 1, "missed": 0, "pending": 1, "no_limit": 0, "rate": 1.0},
    }
    # Quiet weeks are listed, without figures.
    assert faults["by_week"]["2026-11-02"] == {
        "iso_week": "2026-W45",
        "cases": 0,
        "resolution_working_hours": {"count": 0, "median": None, "p90": None},
        "resolution_limit": {"met": 0, "missed": 0, "pending": 0, "no_limit": 0, "rate": None},
    }
    assert list(faults["by_week"]) == list(metrics["volume"]["by_week"])
    # The whole period: 1, 2, 4, 10 hours.
    assert faults["all"] == {
        "cases": 5,
        "resolution_working_hours": {"count": 4, "median": 3.0, "p90": 10.0},
        "resolution_limit": {"met": 3, "missed": 1, "pending": 1, "no_limit": 0, "rate": 0.75},
    }
    assert metrics["checks_failed"] == 0


def test_complaint_rate_per_10000_customers_by_category() -> None:
    tally = tally_of({}, {}, {"category": "consultation"})
    rate = tally.metrics(NOW, Customers(1_000_000, "--customers"))["complaint_rate"]
    assert rate["per_customers"] == 10_000
    assert (rate["customers"], rate["customers_from"], rate["reason"]) == (
        1_000_000,
        "--customers",
        None,
    )
    assert (rate["complaints"], rate["rate"]) == (3, 0.03)
    assert rate["by_category"]["appeal"] == {"complaints": 2, "rate": 0.02}
    assert rate["by_category"]["consultation"] == {"complaints": 1, "rate": 0.01}
    assert rate["by_category"]["report"] == {"complaints": 0, "rate": 0.0}
    # Four decimals: one complaint among 30 million customers still shows.
    assert tally.metrics(NOW, Customers(30_000_000, "CUSTOMER_COUNT"))["complaint_rate"][
        "rate"
    ] == round(3 / 3000, 4)


def test_without_customers_the_complaint_rate_is_missing_not_made_up() -> None:
    metrics = tally_of({}, {"category": "consultation"}).metrics(NOW)
    rate = metrics["complaint_rate"]
    assert (rate["customers"], rate["customers_from"], rate["rate"]) == (None, None, None)
    assert rate["reason"] == NO_CUSTOMERS and "--customers" in NO_CUSTOMERS
    assert rate["complaints"] == 2
    assert {c: found["rate"] for c, found in rate["by_category"].items()} == dict.fromkeys(
        rate["by_category"]
    )
    assert metrics["checks_failed"] == 0


def test_a_row_outside_the_period_breaks_the_adding_up_checks() -> None:
    # Received in October: the tally of November was given a row it must not count.
    metrics = tally_of(
        resolved(2, "system_fault"),
        resolved(3, "system_fault", received_at=datetime(2026, 10, 10, tzinfo=UTC)),
    ).metrics(NOW, Customers(1000, "--customers"))
    failed = {c["name"] for c in metrics["checks"] if not c["passed"]}
    assert failed == {"weeks_add_up", "fault_handling_adds_up"}


def referred(partner: str, asked: float, due: float, answered: float | None) -> Referred:
    """A referral asked, due and answered so many hours after `RECEIVED`."""
    hour = timedelta(hours=1)
    return Referred(
        partner,
        RECEIVED + asked * hour,
        RECEIVED + due * hour,
        RECEIVED + answered * hour if answered is not None else None,
    )


def test_partner_figures_by_hand() -> None:
    hour = timedelta(hours=1)
    metrics = tally_of(
        {  # resolved after 10 hours: alipay's overlapping waits count once (1 h to 4 h)
            "resolved_at": RECEIVED + 10 * hour,
            "referrals": (
                referred("alipay", 1, 3, 2),
                referred("alipay", 1.5, 2, 4),  # late
                referred("chinanet", 8, 24 * 40, None),  # still pending; waits to the end
            ),
        },
        {  # not resolved: no waiting share
            "referrals": (referred("chinanet", 1, 2, None),),  # missed
        },
        {  # resolved after 4 hours; answered after that: the wait ends at the resolution
            "resolved_at": RECEIVED + 4 * hour,
            "referrals": (referred("alipay", 3, 100, 6),),
        },
        {},  # never referred
    ).metrics(NOW)
    assert metrics["partners"] == {
        "alipay": {
            "referrals": 3,
            "cases": 2,
            "outcomes": {"pending": 0, "answered": 2, "answered_late": 1, "missed": 0},
            "answered_by_deadline_rate": 0.6667,
            "response_hours": {"count": 3, "median": 2.5, "p90": 3.0},
            "waiting": {
                "resolved_cases": 2,
                "waiting_hours": 4.0,  # 3 + 1
                "resolution_hours": 14.0,  # 10 + 4
                "share": round(4 / 14, 4),
            },
        },
        "chinanet": {
            "referrals": 2,
            "cases": 2,
            "outcomes": {"pending": 1, "answered": 0, "answered_late": 0, "missed": 1},
            "answered_by_deadline_rate": 0.0,
            "response_hours": {"count": 0, "median": None, "p90": None},
            "waiting": {
                "resolved_cases": 1,
                "waiting_hours": 2.0,  # from 8 h to the resolution at 10 h
                "resolution_hours": 10.0,
                "share": 0.2,
            },
        },
    }
    checks = {c["name"]: c["passed"] for c in metrics["checks"]}
    assert checks["partners_add_up"] and checks["partner_times_in_order"]


def test_no_referrals_no_partners() -> None:
    metrics = tally_of({}, {"resolved_at": RECEIVED}).metrics(NOW)
    assert metrics["partners"] == {}
    assert {c["name"]: c["passed"] for c in metrics["checks"]}["partners_add_up"]


def test_partner_times_out_of_order_are_flagged() -> None:
    metrics = tally_of(
        {"referrals": (referred("alipay", -1, 2, 1),)},  # asked before the case came
        {"referrals": (referred("alipay", 2, 3, 1),)},  # answered before it was asked
        {"referrals": (referred("alipay", 0, 3, 0),)},  # at once: in order
    ).metrics(NOW)
    failed = {c["name"]: c["cases"] for c in metrics["checks"] if not c["passed"]}
    assert failed == {"partner_times_in_order": ["TS-20261120-0001", "TS-20261120-0002"]}


def test_two_tallies_merged_are_the_tally_of_all_their_rows() -> None:
    # Another process tallies the later half of a big period (`reporting.report`).
    hour = timedelta(hours=1)
    next_week = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    archived: list[dict[str, object]] = [{"status": "archived"} for _ in range(30)]
    cases: list[dict[str, object]] = [
        resolved(2, "system_fault", handler_login="li", handler_team="一组"),
        resolved(7, "system_fault", received_at=next_week, handler_login="wang"),
        resolved(1, "user_error", survey_asked_at=RECEIVED + hour, survey_score=2),
        {"resolution_due_at": NOW - timedelta(days=1), "handler_login": "li"},
        {"channel": "email", "category": "appeal", "referrals": (referred("alipay", 1, 3, 2),)},
        {"referrals": (referred("alipay", 1, 2, None), referred("chinanet", 1, 2, 5))},
        # More rows breaking a check than the report names (`EXAMPLES`), in both halves.
        *archived,
        resolved(3, "system_fault", handler_login="li", survey_score=5),
        {"referrals": (referred("alipay", 2, 3, 4), referred("unionpay", 1, 2, None))},
        {"channel": "web", "category": "billing", "handler_login": "zhao"},
    ]
    whole = tally_of(*cases)
    numbered = [{"case_no": f"TS-20261120-{n + 1:04d}", **c} for n, c in enumerate(cases)]
    first, later = tally_of(*numbered[:20]), tally_of(*numbered[20:])
    first.merge(later)

    merged = first.metrics(NOW, Customers(50_000, "option"))
    assert merged == whole.metrics(NOW, Customers(50_000, "option"))
    assert merged["cases"] == len(cases) and merged["partners"] and merged["by_handler"]
    check = [c for c in merged["checks"] if c["name"] == "status_agrees_with_resolution"]
    assert check[0]["failures"] == len(archived)
    assert check[0]["cases"] == [f"TS-20261120-{n:04d}" for n in range(7, 27)]
