"""The ledger's layout, declared once: what is read for each case (`LedgerCase`, each
field with the SQL that selects it) and what each column of the file shows (`COLUMNS`).

Everything else is derived from these two: the batch query's select list
(`reporting.reading`, `reporting.frames`), the `LedgerCase` made of a result row, the
cells of one row (`reporting.rows.LedgerSheet.cells`, for the XLSX file) and the cells of
a batch of cases as columns (`reporting.columns`, for the CSV file). A new column of the
ledger is one change here: a field of `LedgerCase` with its SQL, if it shows something
not read yet, and a `Column` at its place in `COLUMNS` (its header then needs a
translation in the catalogs).

The SQL is written for both databases, with the tables named `c` (cases), `a` (the
case's current handler, an agent), `u` (the staff user that agent is, if any:
`reporting.reading.STAFF_USER`) and `s` (the case's latest satisfaction survey).
Fields read otherwise (no SQL here) come from queries of their own per batch of cases
(`reporting.reading`): the handlers and the referrals to partners.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args, get_origin, get_type_hints


def _(text: str) -> str:
    """Marks a header for the catalogs; `LedgerSheet` translates it."""
    return text


def stored(sql: str | None) -> dict[str, str | None]:
    """A field's metadata: the SQL expression that selects it (None: read otherwise)."""
    return {"sql": sql}


def _verified(name: str) -> str:
    return f"CAST(c.verification ->> '{name}' AS TEXT)"


@dataclass(frozen=True, slots=True)
class Referred:
    """A referral of the case to a partner (`storage.models.Referral`) as the ledger
    reads it: the partner's key, when it was asked, by when it was to answer, and when
    its first answer came (None: not yet)."""

    partner: str
    asked_at: datetime
    due_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class LedgerCase:
    """One case as stored, with its handlers (in the order they took it) and its latest
    satisfaction survey."""

    case_no: str = dataclasses.field(metadata=stored("c.case_no"))
    received_at: datetime = dataclasses.field(metadata=stored("c.received_at"))
    channel: str = dataclasses.field(metadata=stored("c.channel"))
    name: str = dataclasses.field(metadata=stored("c.contact_name"))
    phone: str | None = dataclasses.field(metadata=stored("c.contact_phone"))
    email: str | None = dataclasses.field(metadata=stored("c.contact_email"))
    category: str = dataclasses.field(metadata=stored("c.category"))
    subject: str = dataclasses.field(metadata=stored("c.subject"))  # the party complained about
    description: str = dataclasses.field(metadata=stored("c.description"))
    expectation: str = dataclasses.field(metadata=stored("c.expectation"))
    # From the timeline's events and the current handler (`reporting.reading.HANDLERS`).
    handlers: tuple[str, ...] = dataclasses.field(metadata=stored(None))
    # The current handler, whom the figures per handler count the case for
    # (`reporting.handlers`): its agent's number, and the staff user that agent is (its
    # login, its team); the staff user's name, else the agent's. None: unassigned.
    handler_id: int | None = dataclasses.field(metadata=stored("c.handler_id"))
    handler_login: str | None = dataclasses.field(metadata=stored("u.login"))
    handler_name: str | None = dataclasses.field(metadata=stored("coalesce(u.name, a.name)"))
    handler_team: str | None = dataclasses.field(metadata=stored("u.team"))
    receipt_due_at: datetime | None = dataclasses.field(metadata=stored("c.receipt_due_at"))
    receipt_sent_at: datetime | None = dataclasses.field(metadata=stored("c.receipt_sent_at"))
    response_due_at: datetime | None = dataclasses.field(metadata=stored("c.response_due_at"))
    first_response_at: datetime | None = dataclasses.field(metadata=stored("c.first_response_at"))
    resolution_due_at: datetime | None = dataclasses.field(metadata=stored("c.resolution_due_at"))
    resolved_at: datetime | None = dataclasses.field(metadata=stored("c.resolved_at"))
    # The verification record's four values.
    facts: str | None = dataclasses.field(metadata=stored(_verified("facts")))
    nature: str | None = dataclasses.field(metadata=stored(_verified("nature")))
    responsibility: str | None = dataclasses.field(metadata=stored(_verified("responsibility")))
    severity: str | None = dataclasses.field(metadata=stored(_verified("severity")))
    resolution: str | None = dataclasses.field(metadata=stored("c.resolution"))
    reopened_count: int = dataclasses.field(metadata=stored("c.reopened_count"))
    survey_asked_at: datetime | None = dataclasses.field(metadata=stored("s.asked_at"))
    survey_answered_at: datetime | None = dataclasses.field(metadata=stored("s.answered_at"))
    survey_score: int | None = dataclasses.field(metadata=stored("s.score"))
    # satisfied | unsatisfied | no_answer
    survey_outcome: str | None = dataclasses.field(metadata=stored("s.outcome"))
    status: str = dataclasses.field(metadata=stored("c.status"))
    # The case's referrals to partners, oldest first (`reporting.reading.REFERRALS`).
    referrals: tuple[Referred, ...] = dataclasses.field(metadata=stored(None))


@dataclass(frozen=True, slots=True)
class Field:
    """A field of `LedgerCase` as the readers need it: its SQL and what it holds."""

    name: str
    sql: str | None
    holds: type  # str, int, datetime, tuple (of names) or Referred (a tuple of them)


def _holds(hint: Any) -> type:
    """`str` for `str | None`, `tuple` for `tuple[str, ...]`, `Referred` for
    `tuple[Referred, ...]`."""
    if get_origin(hint) is tuple:
        return Referred if get_args(hint)[0] is Referred else tuple
    return next(kind for kind in get_args(hint) or (hint,) if kind is not type(None))


def _fields() -> tuple[Field, ...]:
    hints = get_type_hints(LedgerCase)
    return tuple(
        Field(field.name, field.metadata["sql"], _holds(hints[field.name]))
        for field in dataclasses.fields(LedgerCase)
    )


FIELDS = _fields()
"""`LedgerCase`'s fields, in order."""


# What a cell shows; `reporting.rows` and `reporting.columns` each say how, per kind.


@dataclass(frozen=True, slots=True)
class Text:
    """The field's text as stored."""

    field: str


@dataclass(frozen=True, slots=True)
class Count:
    """The field's whole number."""

    field: str


@dataclass(frozen=True, slots=True)
class Time:
    """The field's moment on the wall clock of the ledger's time zone."""

    field: str


@dataclass(frozen=True, slots=True)
class Label:
    """The field's value in words: its label from the sheet's table `labels`
    (`LedgerSheet.labels`), the value itself where the table has none. `optional`: no
    cell for no value or an empty one."""

    field: str
    labels: str
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Masked:
    """The complainant's detail, `mask`ed (`reporting.masks`) unless the ledger is
    exported unmasked. `optional`: no cell for no value or an empty one."""

    field: str
    mask: str  # "name", "phone" or "email"
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Names:
    """The field's names, separated by commas."""

    field: str


@dataclass(frozen=True, slots=True)
class Minutes:
    """The figure `figure` of `reporting.rows.LedgerRow`: minutes from `since` to
    `until`, to a tenth."""

    figure: str
    since: str
    until: str


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """The figure `figure` of `LedgerRow`: working hours (by the ledger's calendar) from
    `since` to `until`, to a hundredth."""

    figure: str
    since: str
    until: str


@dataclass(frozen=True, slots=True)
class Limit:
    """The outcome `outcome` of `LedgerRow` in words: the time limit `due` met or missed
    by `done`, or pending."""

    outcome: str
    due: str
    done: str


@dataclass(frozen=True, slots=True)
class Answer:
    """What the complainant answered to the latest survey (`shown`), or "no answer" when
    the field `outcome` says the survey got none."""

    shown: Text | Count | Time
    outcome: str = "survey_outcome"


@dataclass(frozen=True, slots=True)
class Partners:
    """The partner of each of the field's referrals, separated by commas (a partner
    asked twice is named twice: the n-th name, the n-th times and the n-th outcome of the
    partner columns are the same referral)."""

    field: str


@dataclass(frozen=True, slots=True)
class AskedAnswered:
    """For each of the field's referrals, when it was asked and when it was answered
    ("2026-05-01 08:00:00 / 2026-05-02 10:00:00", "—" for no answer yet), on the wall
    clock of the ledger's time zone, separated by semicolons."""

    field: str


@dataclass(frozen=True, slots=True)
class PartnerDeadlines:
    """The outcomes `outcomes` of `LedgerRow` (one per referral of the field `referrals`:
    `bot.referrals.referral_outcome`) in words: met, answered late, missed (no answer),
    pending; separated by commas."""

    outcomes: str
    referrals: str


Cell = (
    Text
    | Count
    | Time
    | Label
    | Masked
    | Names
    | Minutes
    | WorkingHours
    | Limit
    | Answer
    | Partners
    | AskedAnswered
    | PartnerDeadlines
)

# Figures and times are never taken for a formula: "-0.5" stays as it is in a CSV file.
UNGUARDED = (Count, Time, Minutes, WorkingHours)


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the ledger: its header (with `{zone}` for the time zone's name; the
    `unmasked` header when the complainant's details are exported in full) and its cell."""

    header: str
    cell: Cell
    unmasked: str | None = None


COLUMNS = (
    Column(_("Case number"), Text("case_no")),
    Column(_("Received at ({zone})"), Time("received_at")),
    Column(_("Channel"), Label("channel", "channel")),
    Column(_("Complainant (masked)"), Masked("name", "name"), _("Complainant (full)")),
    Column(_("Phone (masked)"), Masked("phone", "phone", True), _("Phone (full)")),
    Column(_("Email (masked)"), Masked("email", "email", True), _("Email (full)")),
    Column(_("Category"), Label("category", "category")),
    Column(_("Party complained about"), Text("subject")),
    Column(_("Summary"), Text("description")),
    Column(_("Expected outcome"), Text("expectation")),
    Column(_("Handler(s)"), Names("handlers")),
    Column(_("Receipt sent at ({zone})"), Time("receipt_sent_at")),
    Column(
        _("Minutes to receipt"), Minutes("minutes_to_receipt", "received_at", "receipt_sent_at")
    ),
    Column(_("Receipt time limit"), Limit("receipt", "receipt_due_at", "receipt_sent_at")),
    Column(_("First response at ({zone})"), Time("first_response_at")),
    Column(
        _("Minutes to first response"),
        Minutes("minutes_to_first_response", "received_at", "first_response_at"),
    ),
    Column(
        _("First response time limit"),
        Limit("first_response", "response_due_at", "first_response_at"),
    ),
    Column(_("Resolved at ({zone})"), Time("resolved_at")),
    Column(
        _("Working hours to resolution"),
        WorkingHours("working_hours_to_resolution", "received_at", "resolved_at"),
    ),
    Column(_("Resolution time limit"), Limit("resolution", "resolution_due_at", "resolved_at")),
    Column(_("Facts"), Label("facts", "verification", optional=True)),
    Column(_("Nature"), Label("nature", "verification", optional=True)),
    Column(_("Responsibility"), Label("responsibility", "verification", optional=True)),
    Column(_("Severity"), Label("severity", "verification", optional=True)),
    Column(_("Resolution summary"), Text("resolution")),
    Column(_("Times reopened"), Count("reopened_count")),
    Column(_("Satisfaction score"), Answer(Count("survey_score"))),
    Column(_("Satisfaction asked at ({zone})"), Time("survey_asked_at")),
    Column(_("Satisfaction answered at ({zone})"), Answer(Time("survey_answered_at"))),
    # Status stays last, always filled: a reader that drops a row's trailing empty cells
    # (openpyxl's read-only mode) still gets every row in full.
    Column(_("Partner(s)"), Partners("referrals")),
    Column(_("Partner asked / answered ({zone})"), AskedAnswered("referrals")),
    Column(_("Partner deadline met"), PartnerDeadlines("referral_outcomes", "referrals")),
    Column(_("Status"), Label("status", "status")),
)
"""The ledger's columns, in the order of the file."""

NO_ANSWER = "no_answer"
"""The survey outcome of a complainant who never answered (`Answer`)."""

NO_PARTNER_ANSWER = "—"
"""`AskedAnswered`'s answer time of a referral not answered (yet)."""
