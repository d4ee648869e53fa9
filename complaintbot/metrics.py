"""What `/metrics` shows, in Prometheus' text format.

Two kinds of figures:

- Counted in this process, as things happen: messages in by outcome, sends by outcome
  and their latency from queued to sent, sweep passes and the timers they acted on.
  Each worker counts its own; Prometheus tells workers apart by their instance.
- Read from the database at each scrape (`refresh`, then the collector yields what it
  read): cases opened, open and overdue cases, what waits in the outbox. Every worker
  shows the same cluster-wide truth.

The IMAP cursor lag of a mailbox is the seconds since it was last known read up to
date: the later of its cursor's last move in the database (a mail read) and the last
pass of this process's poller over it (`imap_checked`, which `CheckedCursors` reports
at every pass). Only the worker polling a mailbox knows of its quiet passes, so the
others show the time since its last mail: take `min by (account)` across workers.

Each `Metrics` owns its registry, so tests and several workers in one process do not
clash.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import CaseStatus
from bot.lifecycle import is_open
from bot.ports import Clock, SystemClock
from channels.spec import CursorStore
from storage.figures import LIMITS, Figures, read_figures

log = logging.getLogger(__name__)

INBOUND_OUTCOMES = ("stored", "duplicate", "undecodable", "refused")
SEND_OUTCOMES = ("sent", "retried", "429", "failed")
LANES = ("answer", "notice")
_OPEN = [s.value for s in CaseStatus if is_open(s)]
# From queued to sent: an answer in well under a second, a paced or retried one in
# minutes, a message retried through an outage in hours.
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)
_SWEEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """The metrics of one worker. `channels` (and `accounts`) named up front show their
    series at zero before anything happened, so rates and alerts have a start."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        channels: Iterable[str] = (),
        min_interval: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock or SystemClock()
        self.channels = tuple(channels)
        # Scrapes closer together than this reuse the last figures read.
        self.min_interval = min_interval
        self.monotonic = monotonic
        self.registry = CollectorRegistry(auto_describe=True)
        self._inbound = Counter(
            "complaintbot_inbound",
            "Messages received by channel and outcome: stored, duplicate, undecodable, refused.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self._sends = Counter(
            "complaintbot_sends",
            "Send attempts, by channel and outcome (sent, retried, 429, failed: given up).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "complaintbot_delivery_latency_seconds",
            "Seconds from a message queued to it sent, by channel.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._sweep = Histogram(
            "complaintbot_sweep_duration_seconds",
            "Seconds one sweep over the due timers took.",
            buckets=_SWEEP_BUCKETS,
            registry=self.registry,
        )
        self._timers = Counter(
            "complaintbot_timers_fired",
            "Due timers the sweeps handled (most fire; some are dropped as no longer due "
            "or put off to working hours), by kind.",
            ["kind"],
            registry=self.registry,
        )
        for channel in self.channels:
            for outcome in INBOUND_OUTCOMES:
                self._inbound.labels(channel, outcome)
            for outcome in SEND_OUTCOMES:
                self._sends.labels(channel, outcome)
            self._latency.labels(channel)
        self._figures: Figures | None = None
        self._read_at: float | None = None
        self._checked: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self.registry.register(_DatabaseFigures(self))

    # ----- counted in this process ----------------------------------------------------

    def inbound(self, channel: str, outcome: str) -> None:
        """A message received: stored, duplicate (seen before), undecodable (kept raw),
        refused (over a limit, not for the bot)."""
        if outcome not in INBOUND_OUTCOMES:
            raise ValueError(f"unknown inbound outcome {outcome!r}")
        self._inbound.labels(channel, outcome).inc()

    def sent(self, channel: str, outcome: str, latency_seconds: float | None = None) -> None:
        """A send attempt's outcome; the dispatcher's `observe`."""
        if outcome not in SEND_OUTCOMES:
            raise ValueError(f"unknown send outcome {outcome!r}")
        self._sends.labels(channel, outcome).inc()
        if outcome == "sent" and latency_seconds is not None:
            self._latency.labels(channel).observe(max(latency_seconds, 0.0))

    def swept(self, seconds: float, fired_by_kind: Mapping[str, int]) -> None:
        """One sweep pass: how long it took and the timers it acted on by kind
        (`TimerSweep.last_fired`). A reminder's kind is counted without its share of
        the limit (remind:first_response:50 as remind:first_response), a referral's
        without its number (partner_remind:17 as partner_remind): one series a limit
        or kind, whatever the policy and however many referrals."""
        self._sweep.observe(seconds)
        for kind, count in fired_by_kind.items():
            parts = [part for part in kind.split(":")[:2] if not part.isdigit()]
            self._timers.labels(":".join(parts)).inc(count)

    def imap_checked(self, account: str, at: datetime | None = None) -> None:
        """This process's poller went over `account` (by default: now)."""
        self._checked[account] = at or self.clock.now()

    # ----- read from the database -----------------------------------------------------

    async def refresh(self, engine: AsyncEngine) -> None:
        """Reads the database's figures for the next `render`; when the database cannot
        be read, the scrape shows `complaintbot_database_figures_up 0` and the counts
        of this process only."""
        async with self._lock:  # scrapes at once share one read
            now = self.monotonic()
            if self._read_at is not None and now - self._read_at < self.min_interval:
                return
            try:
                self._figures = await read_figures(engine, self.clock.now(), _OPEN)
            except Exception as error:
                log.warning("metrics: cannot read the database's figures: %s", error)
                self._figures = None
            self._read_at = now

    def render(self) -> tuple[bytes, str]:
        """The body and content type of a `/metrics` answer: the classic text format
        (0.0.4), which every Prometheus reads; the names need nothing newer."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4

    def checked_cursors(self, cursors: CursorStore) -> CursorStore:
        """`cursors` for the IMAP poller, telling `imap_checked` at each of its passes."""
        return CheckedCursors(cursors, self)


class CheckedCursors:
    """A `CursorStore` that notes each poller pass: the poller loads a mailbox's cursor
    at the start of every pass (at least every IMAP_POLL_SECONDS, IDLE or not)."""

    def __init__(self, cursors: CursorStore, metrics: Metrics) -> None:
        self.cursors = cursors
        self.metrics = metrics

    async def load(self, account: str) -> tuple[int, int] | None:
        cursor = await self.cursors.load(account)
        self.metrics.imap_checked(account)
        return cursor

    async def save(self, account: str, uidvalidity: int, last_uid: int) -> None:
        await self.cursors.save(account, uidvalidity, last_uid)


class _DatabaseFigures(Collector):
    """Yields what the last `refresh` read (collect is synchronous; the reading is not)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics, figures = self.metrics, self.metrics._figures
        up = GaugeMetricFamily(
            "complaintbot_database_figures_up",
            "1 when the figures below were read from the database at this scrape's refresh.",
            value=0 if figures is None else 1,
        )
        yield up
        lag = GaugeMetricFamily(
            "complaintbot_imap_cursor_lag_seconds",
            "Seconds since the mailbox was last known read up to date (min across workers).",
            labels=["account"],
        )
        now = figures.at if figures is not None else metrics.clock.now()
        read = dict(figures.mail_cursors) if figures is not None else {}
        for account, at in metrics._checked.items():
            read[account] = max(at, read.get(account, at))
        for account, at in sorted(read.items()):
            lag.add_metric([account], max((now - at).total_seconds(), 0.0))
        yield lag
        if figures is None:
            return
        yield from _case_figures(figures)
        yield from _outbox_figures(figures, metrics.channels)


def _case_figures(figures: Figures) -> Iterator[Metric]:
    opened = CounterMetricFamily(
        "complaintbot_cases_opened",
        "Cases opened, by channel and (current) category.",
        labels=["channel", "category"],
    )
    for (channel, category), count in sorted(figures.cases_opened.items()):
        opened.add_metric([channel, category], count)
    yield opened
    yield GaugeMetricFamily(
        "complaintbot_open_cases", "Cases agents still owe an answer.", value=figures.open_cases
    )
    overdue = GaugeMetricFamily(
        "complaintbot_overdue_cases",
        "Open cases past a time limit, by limit (receipt, first_response, resolution).",
        labels=["limit"],
    )
    for limit in LIMITS:
        overdue.add_metric([limit], figures.overdue.get(limit, 0))
    yield overdue


def _outbox_figures(figures: Figures, channels: tuple[str, ...]) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "complaintbot_outbox_depth",
        "Messages waiting to be sent, by channel and lane (answer: someone's own action; "
        "notice: automated).",
        labels=["channel", "lane"],
    )
    age = GaugeMetricFamily(
        "complaintbot_outbox_oldest_age_seconds",
        "Seconds the oldest waiting message has been queued, by channel and lane.",
        labels=["channel", "lane"],
    )
    keys = set(figures.outbox) | {(channel, lane) for channel in channels for lane in LANES}
    for key in sorted(keys):
        waiting = figures.outbox.get(key)
        depth.add_metric(list(key), waiting.depth if waiting else 0)
        oldest = (figures.at - waiting.oldest).total_seconds() if waiting else 0.0
        age.add_metric(list(key), max(oldest, 0.0))
    yield depth
    yield age


def authorized(header_value: str | None, token: str | None) -> bool:
    """Whether an Authorization header lets a scrape in: anyone when no METRICS_TOKEN is
    set, else only `Bearer <token>` (compared in constant time)."""
    if token is None:
        return True
    if header_value is None:
        return False
    scheme, _, given = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
