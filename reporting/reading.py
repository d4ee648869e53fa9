"""The ledger's cases, read in batches so memory stays flat whatever the period.

Cases come in the order they were received, a batch at a time by keyset (received at,
id) through `ix_cases_received_at`; each batch is one short read transaction (on SQLite
a deferred one, which holds no lock the bot's writes wait for; short, as a long reader
would keep the WAL from being checkpointed), with the batch's handlers read by a second
query. A case filed while the export runs is included only if its batch has not been
read yet; the period's rows are complete once it has ended.

The query selects what `reporting.layout.LedgerCase` declares, in its order
(`batch_query`, which the columnar read in `reporting.frames` shares). A million cases
are read in seconds because the values skip SQLAlchemy's per-value processing: the times
are made UTC-aware here (`storage.types.utc_reader`) and every row is taken by position.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, and_, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reporting.layout import FIELDS, LedgerCase, Referred
from storage.database import READ_ONLY
from storage.models import Case
from storage.types import UTCDateTime, as_driver_returns, utc_reader

BATCH = 5000

# The cases of a batch: those received in [after_time, until) after the case `after_id`
# received at after_time (the keyset: received_at, then id), oldest first, `rows` of
# them. The keyset is written out, not as a row comparison, from which PostgreSQL's
# planner would not start the index range. The batch is chosen before anything is joined
# to it: otherwise PostgreSQL, for the last batches of a period, joins every case left in
# it (by hash) and sorts them all to keep `rows`.
_BATCH = """
  SELECT {columns} FROM cases AS c
  WHERE c.received_at >= {after_time} AND (c.received_at > {after_time} OR c.id > {after_id})
    AND c.received_at < {until}
  ORDER BY c.received_at, c.id
  LIMIT {rows}"""

# A case's latest survey (one per resolution), looked up case by case in the index.
_LATEST_SURVEY = {
    # A lateral join: with any join condition, PostgreSQL's planner reads all surveys
    # for every batch and joins them by hash.
    "postgresql": """
LEFT JOIN LATERAL (
  SELECT * FROM surveys AS t WHERE t.case_id = c.id ORDER BY t.round DESC LIMIT 1
) AS s ON true""",
    # SQLite has no lateral join; it looks the survey up by its id.
    "sqlite": """
LEFT JOIN surveys AS s ON s.id = (
  SELECT t.id FROM surveys AS t WHERE t.case_id = c.id ORDER BY t.round DESC LIMIT 1
)""",
}

STAFF_USER = """
LEFT JOIN (
  SELECT g.id AS agent_id, coalesce(t.id, l.id, n.id) AS staff_id
  FROM agents AS g
  LEFT JOIN staff_users AS t
    ON g.channel = 'telegram' AND CAST(t.telegram_id AS TEXT) = g.external_id
  LEFT JOIN staff_users AS l ON g.channel <> 'telegram' AND l.login = lower(g.external_id)
  LEFT JOIN (
    SELECT min(id) AS id, name FROM staff_users GROUP BY name HAVING count(*) = 1
  ) AS n ON g.channel <> 'telegram' AND n.name = g.name
) AS k ON k.agent_id = c.handler_id
LEFT JOIN staff_users AS u ON u.id = k.staff_id"""
"""The staff user (`storage.models.StaffUser`, as `u`) the case's current handler is, as
`web.identity` makes a staff user's agent: for a Telegram agent the one with its Telegram
id; for any other (the staff tools' agent, known by the login; an agent of the CLI, by
the name given to --agent) the one whose login is the agent's id, else the one staff user
of the agent's name (a name two of them share names neither). Disabled staff users
count: their past work stays theirs. The agents and staff users are few, so the link of
every agent is made once per batch, not once per case."""

# Timeline events that name the case's new handler in their payload.
_HANDLER_EVENTS = "e.kind IN ('claimed', 'assigned')"

HANDLERS = f"""coalesce((
    SELECT string_agg(e.payload ->> 'handler', '\x1f' ORDER BY e.seq)
    FROM timeline_events AS e
    WHERE e.case_id = c.id AND {_HANDLER_EVENTS}
  ), '')"""
"""A case's handlers, in the order the timeline names them, separated by U+001F: for
SQLite 3.44 and later (as its ADBC driver bundles it; Python's may be older) and
PostgreSQL."""


# A referral's time as text, as SQLite holds it (`storage.types.UTCDateTime`: UTC, six
# digits of microseconds); '' for none.
_REFERRAL_TIME = {
    "postgresql": "coalesce(to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '')",
    "sqlite": "coalesce({}, '')",
}


def referrals_text(database: str) -> str:
    """A case's referrals to partners, oldest first, as one text: each referral's partner
    key, asked, due and answered times (`_REFERRAL_TIME`) separated by U+001E, the
    referrals by U+001F; '' for none. For the columnar read (`reporting.frames`), which
    takes a text where the row-at-a-time read takes rows (`_REFERRALS`)."""
    time = _REFERRAL_TIME[database].format
    referral = " || '\x1e' || ".join(
        ["r.partner_key", time("r.asked_at"), time("r.due_at"), time("r.answered_at")]
    )
    return f"""coalesce((
    SELECT string_agg({referral}, '\x1f' ORDER BY r.asked_at, r.id)
    FROM referrals AS r
    WHERE r.case_id = c.id
  ), '')"""


def batch_query(
    database: str,
    markers: Sequence[str],
    handlers: str | None = None,
    referrals: str | None = None,
) -> str:
    """The query of a batch of cases on `database` ("sqlite" or "postgresql"): `c.id`,
    then each field of `LedgerCase` that SQL selects, in their order, then the current
    handler's name as `handler` ('' for none), then `handlers` as handlers and
    `referrals` as referrals if given. `markers` are the parameters after_time,
    after_id, until and rows as the driver that runs it marks them."""
    selected = [
        "c.id",
        *(f"{field.sql} AS {field.name}" for field in FIELDS if field.sql),
        "coalesce(a.name, '') AS handler",
        *([f"{handlers} AS handlers"] if handlers else []),
        *([f"{referrals} AS referrals"] if referrals else []),
    ]
    return (
        "SELECT\n  "
        + ",\n  ".join(selected)
        + f"\nFROM ({_batch(markers, '*')}\n) AS c"
        + "\nLEFT JOIN agents AS a ON a.id = c.handler_id"
        + STAFF_USER
        + _LATEST_SURVEY[database]
        + "\nORDER BY c.received_at, c.id"
    )


def _batch(markers: Sequence[str], columns: str) -> str:
    after_time, after_id, until, rows = markers
    return _BATCH.format(
        columns=columns, after_time=after_time, after_id=after_id, until=until, rows=rows
    )


def _bound(sql: str) -> TextClause:
    return text(sql).bindparams(
        bindparam("after_time", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime())
    )


_MARKERS = (":after_time", ":after_id", ":until", ":rows")
_CASES = {database: _bound(batch_query(database, _MARKERS)) for database in _LATEST_SURVEY}
# The handlers of a batch's cases, chosen by the same condition rather than by a list
# of thousands of ids, which would take longer to render than to run.
_HANDLERS = _bound(
    "SELECT e.case_id, e.payload ->> 'handler'\nFROM timeline_events AS e\n"
    f"WHERE {_HANDLER_EVENTS} AND e.case_id IN ({_batch(_MARKERS, 'c.id')}\n)\n"
    "ORDER BY e.case_id, e.seq"
)
# The referrals of a batch's cases, oldest first, chosen the same way.
_REFERRALS = _bound(
    "SELECT r.case_id, r.partner_key, r.asked_at, r.due_at, r.answered_at\nFROM referrals AS r\n"
    f"WHERE r.case_id IN ({_batch(_MARKERS, 'c.id')}\n)\n"
    "ORDER BY r.case_id, r.asked_at, r.id"
)


def _in_period(start: datetime, end: datetime) -> Any:
    return and_(Case.received_at >= start, Case.received_at < end)


async def count_cases(engine: AsyncEngine, start: datetime, end: datetime) -> int:
    """How many cases were received in [start, end)."""
    async with _reading(engine) as connection:
        return int(
            await connection.scalar(select(func.count(Case.id)).where(_in_period(start, end))) or 0
        )


async def split_point(
    engine: AsyncEngine, start: datetime, end: datetime, total: int, split_from: int
) -> datetime | None:
    """Where a period of `total` cases is cut in two for a second process (when the
    middle case was received); None when it has fewer than `split_from`."""
    if total < split_from:
        return None
    async with _reading(engine) as connection:
        value = await connection.scalar(
            select(as_driver_returns(Case.received_at))
            .where(_in_period(start, end))
            .order_by(Case.received_at, Case.id)
            .offset(total // 2)
            .limit(1)
        )
    return utc_reader(engine.dialect)(value)


@asynccontextmanager
async def _reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read transaction (see `storage.database.READ_ONLY`)."""
    async with engine.connect() as connection:
        await connection.execution_options(**{READ_ONLY: True})
        async with connection.begin():
            yield connection


async def ledger_cases(
    engine: AsyncEngine, start: datetime, end: datetime, batch: int = BATCH
) -> AsyncIterator[LedgerCase]:
    """Every case received in [start, end), oldest first. The next batch is read while
    the caller takes this one (the database works in its driver's thread or its server
    meanwhile, on the other core)."""
    utc = utc_reader(engine.dialect)
    made = _case_maker(utc)
    cases = _CASES[engine.dialect.name]

    async def read(after: tuple[datetime, int]) -> tuple[Sequence[Any], _Related]:
        period = {"after_time": after[0], "after_id": after[1], "until": end, "rows": batch}
        async with _reading(engine) as connection:
            rows = (await connection.execute(cases, period)).all()
            if not rows:
                return rows, ({}, {})
            handlers = await _handlers(connection, period)
            return rows, (handlers, await _referrals(connection, period, utc))

    # (received_at, id): from the start
    upcoming: asyncio.Future[Any] | None = asyncio.ensure_future(read((start, 0)))
    try:
        while upcoming is not None:
            rows, (handlers, referrals) = await upcoming
            upcoming = None
            if len(rows) == batch:
                after = (made(rows[-1], [], ()).received_at, rows[-1][0])
                upcoming = asyncio.ensure_future(read(after))
            for number, row in enumerate(rows):
                if number % _NUDGE == 0:
                    # The caller takes the rows without waiting for anything: let the
                    # next batch's read take its next step.
                    await asyncio.sleep(0)
                yield made(row, handlers.get(row[0], []), referrals.get(row[0], ()))
    finally:
        if upcoming is not None:  # the caller stopped early: the read ends first
            await asyncio.gather(upcoming, return_exceptions=True)


_NUDGE = 250

# A batch's handlers and referrals, by case id.
_Related = tuple[dict[int, list[str]], dict[int, tuple[Referred, ...]]]


async def _handlers(connection: AsyncConnection, period: dict[str, Any]) -> dict[int, list[str]]:
    """Each case's handlers, in the order they took it, each named once."""
    handlers: dict[int, list[str]] = {}
    for case_id, name in (await connection.execute(_HANDLERS, period)).all():
        names = handlers.setdefault(case_id, [])
        if name and name not in names:
            names.append(name)
    return handlers


async def _referrals(
    connection: AsyncConnection, period: dict[str, Any], utc: Callable[[Any], Any]
) -> dict[int, tuple[Referred, ...]]:
    """Each case's referrals to partners, oldest first (most cases have none)."""
    referrals: dict[int, list[Referred]] = {}
    for case_id, partner, asked, due, answered in (
        await connection.execute(_REFERRALS, period)
    ).all():
        referral = Referred(partner, utc(asked), utc(due), utc(answered))
        referrals.setdefault(case_id, []).append(referral)
    return {case_id: tuple(found) for case_id, found in referrals.items()}


def _case_maker(
    utc: Callable[[Any], Any],
) -> Callable[[Sequence[Any], list[str], tuple[Referred, ...]], LedgerCase]:
    """What makes a `LedgerCase` of a row of `_CASES`, the case's earlier handlers and
    its referrals."""
    stored = [field for field in FIELDS if field.sql]
    # Places in the row after its id; the times are made UTC-aware datetimes.
    times = [at for at, field in enumerate(stored) if field.holds is datetime]
    names = [field.name for field in FIELDS]
    handlers_at, referrals_at = names.index("handlers"), names.index("referrals")
    # Inserted in the order of their places, so each place is the one among the fields.
    assert handlers_at < referrals_at

    def made(
        row: Sequence[Any], handlers: list[str], referrals: tuple[Referred, ...]
    ) -> LedgerCase:
        *values, handler = row[1:]
        for at in times:
            values[at] = utc(values[at])
        if handler and handler not in handlers:
            handlers.append(handler)
        values.insert(handlers_at, tuple(handlers))
        values.insert(referrals_at, referrals)
        # By position, in the order of the fields: keywords cost a second per million cases.
        return LedgerCase(*values)

    return made
