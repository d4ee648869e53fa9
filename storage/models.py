"""The tables. Times are UTC-aware (`UTCDateTime`); enums are stored as their strings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import SearchTerms, UTCDateTime


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Complainant(SQLModel, table=True):
    __tablename__ = "complainants"

    id: int | None = Field(default=None, primary_key=True)
    name: str | None = None
    phone: str | None = Field(default=None, index=True)
    email: str | None = Field(default=None, index=True)
    locale: str | None = None
    created_at: datetime = _time()
    updated_at: datetime = _time()


class Identity(SQLModel, table=True):
    """A sender on one channel (a Telegram user id, an email address) → a complainant."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    external_id: str
    complainant_id: int = Field(foreign_key="complainants.id", index=True)
    created_at: datetime = _time()


class Agent(SQLModel, table=True):
    """A staff member who works cases; `id` is the number shown as "Agent No. N"."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    external_id: str
    name: str
    username: str | None = Field(default=None, index=True)
    created_at: datetime = _time()


class CaseCounter(SQLModel, table=True):
    """Last serial handed out per local day; its row lock makes serials gap-free."""

    __tablename__ = "case_counters"

    day: str = Field(primary_key=True)
    last_serial: int


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_due", "status", "response_due_at"),
        # The retention sweep's range scan: archived, not yet erased, oldest first.
        Index("ix_cases_retention", "erased_at", "archived_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(unique=True)
    status: str
    channel: str
    conversation: str
    complainant_id: int = Field(foreign_key="complainants.id", index=True)
    locale: str
    contact_name: str
    contact_phone: str | None = None
    contact_email: str | None = None
    category: str
    subject: str
    description: str
    expectation: str
    received_at: datetime = _time(index=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()
    response_due_at: datetime | None = _time(nullable=True)
    receipt_due_at: datetime | None = _time(nullable=True)
    resolution_due_at: datetime | None = _time(nullable=True)
    # While the case waits for the complainant, since when (the SLA clock may stand still).
    clock_paused_at: datetime | None = _time(nullable=True)
    reopened_count: int = 0
    receipt_sent_at: datetime | None = _time(nullable=True)
    first_response_at: datetime | None = _time(nullable=True)
    resolved_at: datetime | None = _time(nullable=True)
    satisfaction: int | None = None
    handler_id: int | None = Field(default=None, foreign_key="agents.id", index=True)
    agent_thread: str | None = Field(default=None, index=True)
    escalated_at: datetime | None = _time(nullable=True)
    resolution: str | None = None
    verification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # When the case was archived (retention counts from here), and when its personal
    # data was erased (by `privacy erase` or the retention sweep; erased once).
    archived_at: datetime | None = _time(nullable=True)
    erased_at: datetime | None = _time(nullable=True)
    # A case entered through the API: where it came from (regulator, phone, walk_in,
    # letter) and the sender's reference for it; None when it came by a channel.
    source: str | None = None
    external_ref: str | None = None


class Message(SQLModel, table=True):
    """Every message in and out, raw, under its transport id."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel", "direction", "transport_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    direction: str  # "in" | "out"
    transport_id: str
    conversation: str = Field(index=True)
    # The chat-local message id (what a reply in that chat refers to).
    message_ref: str | None = Field(default=None, index=True)
    sender_id: str
    kind: str
    text: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = _time()
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    channel: str
    conversation: str
    name: str
    mime: str
    size: int
    sha256: str
    path: str
    received_at: datetime = _time()


class Conversation(SQLModel, table=True):
    """Conversation state between messages (the intake draft, the chosen language)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "conversation"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    conversation: str
    state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime = _time()


class TimelineEvent(SQLModel, table=True):
    """Append-only record of everything that happened to a case.

    Written only by `storage.chain` (`append_event`, `start_chain`), which chains it to
    the case's previous event (`seq`, `prev_hash`, `hash`; `salts` and `erased` hold the
    field digests' inputs, see storage/chain.py).
    """

    __tablename__ = "timeline_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_timeline_events_case_id_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    at: datetime = _time()
    actor: str
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seq: int
    prev_hash: str
    hash: str
    salts: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    erased: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class TimelineHead(SQLModel, table=True):
    """Position and hash of each case's last timeline event: deleting the newest events
    breaks the chain too."""

    __tablename__ = "timeline_heads"

    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    seq: int
    hash: str


class OutboxItem(SQLModel, table=True):
    """A reply waiting to be sent; written in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_status_sent", "status", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    conversation: str
    kind: str
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Answers the complainant for an agent (the bot says so when it queues it): the
    # first one delivered is the case's first response; all else is automatic.
    answer: bool = False
    # An automated notice (a reminder, an escalation, a survey) rather than the answer
    # to someone's own action: it goes after those, and may use only part of a busy
    # chat's budget.
    notice: bool = False
    # sending: claimed by the dispatcher `claimed_by` (its worker id and a token of its
    # own); released to pending when that dispatcher is gone. Kept once settled: who sent.
    status: str = "pending"  # pending | sending | sent | failed
    claimed_by: str | None = None
    attempts: int = 0
    next_attempt_at: datetime = _time()
    created_at: datetime = _time()
    sent_at: datetime | None = _time(nullable=True)
    transport_message_id: str | None = None
    # The thread the message went into or opened, as the channel named it.
    thread: str | None = None
    last_error: str | None = None


class SendBudgetRow(SQLModel, table=True):
    """A rate-limit budget every dispatching worker takes from (PostgreSQL): a channel's
    overall, one conversation's, or the part of it automated notices may use. `state`
    is the budget's bucket or window (`delivery.pacing`), in seconds on the database's
    clock; after `idle_after` the row says no more than no row at all."""

    __tablename__ = "send_budgets"

    key: str = Field(primary_key=True)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    held_until: float | None = None
    idle_after: float = Field(default=0.0, index=True)


class CaseTimer(SQLModel, table=True):
    """A moment a case must be looked at again: a reminder, an escalation, a survey.

    The sweeps read due rows through `ix_case_timers_status_due`, so their cost does
    not grow with the number of cases; a fired row is kept as the record that it fired.
    """

    __tablename__ = "case_timers"
    __table_args__ = (Index("ix_case_timers_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    kind: str
    due_at: datetime = _time()
    status: str = "pending"  # pending | fired | dropped
    fired_at: datetime | None = _time(nullable=True)


class Survey(SQLModel, table=True):
    """One satisfaction callback; every resolution of a case gets its own."""

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_case_id_round", "case_id", "round"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    round: int
    created_at: datetime = _time()
    asked_at: datetime | None = _time(nullable=True)
    reminded_at: datetime | None = _time(nullable=True)
    answered_at: datetime | None = _time(nullable=True)
    score: int | None = None
    comment: str | None = None
    outcome: str | None = None  # satisfied | unsatisfied | no_answer


class MailCursor(SQLModel, table=True):
    """How far the IMAP poller has read one mailbox (per UIDVALIDITY)."""

    __tablename__ = "mail_cursors"

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(unique=True)
    uidvalidity: int
    last_uid: int
    updated_at: datetime = _time()


class RawUpdate(SQLModel, table=True):
    """A transport's update as received, kept before anything reads it (raw first).

    `state`: `stored` (not yet handled), `handled` (the bot has it; the payload is then
    emptied, the bot's message keeps it), `undecodable` (kept, cannot be read) or
    `failed` (kept, the bot failed on it while the database worked). The id orders
    updates as they were received.
    """

    __tablename__ = "raw_updates"
    __table_args__ = (
        UniqueConstraint("channel", "update_key"),
        Index("ix_raw_updates_channel_state", "channel", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    update_key: str
    # The transport's conversation (a Telegram chat): handled in order, by one worker.
    conversation: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="stored", index=True)
    received_at: datetime = _time()
    handled_at: datetime | None = _time(nullable=True)


class Partner(SQLModel, table=True):
    """Someone outside the company a case can be referred to for investigation (an
    access provider, a payment channel); `sla` is their usual time to answer ("3wd")."""

    __tablename__ = "partners"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    name: str
    email: str
    sla: str | None = None
    disabled: bool = False
    created_at: datetime = _time()


class Referral(SQLModel, table=True):
    """A case referred to a partner, with its own deadline; the case keeps its status.

    `outcome` and `message_id` stay empty: the outcome follows from the times
    (`bot.referrals`), and the partner's answer finds the case through the messages
    table like any mail. A later migration may drop both.
    """

    __tablename__ = "referrals"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    case_no: str = Field(index=True)
    partner_key: str = Field(index=True)
    asked_at: datetime = _time()
    due_at: datetime = _time()
    answered_at: datetime | None = _time(nullable=True)
    outcome: str | None = None
    text: str
    share_contact: bool = False
    message_id: str | None = Field(default=None, index=True)
    asked_by: int | None = Field(default=None, foreign_key="agents.id")


class StaffUser(SQLModel, table=True):
    """A person who works cases (agent), oversees them (supervisor) or only reads
    (auditor), for the staff web and API. `password_hash` is argon2's encoded hash
    (algorithm, parameters and salt included); a disabled user keeps the row."""

    __tablename__ = "staff_users"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(unique=True)
    name: str
    role: str
    team: str | None = None
    # Telegram user ids need 52 bits; unique when set (NULLs never collide).
    telegram_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    password_hash: str
    disabled: bool = False
    created_at: datetime = _time()
    password_changed_at: datetime = _time()
    # Wrong passwords in a row; at the limit the login is locked until `locked_until`.
    failed_logins: int = 0
    locked_until: datetime | None = _time(nullable=True)


class StaffSession(SQLModel, table=True):
    """A staff web login: the cookie holds a random token, the row its SHA-256, so a
    read of the database gives no one a session."""

    __tablename__ = "staff_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    staff_user_id: int = Field(foreign_key="staff_users.id")
    csrf: str
    created_at: datetime = _time()
    expires_at: datetime = _time()
    ended_at: datetime | None = _time(nullable=True)
    address: str | None = None
    # The case list's last filters, kept here so that no search text goes into a URL.
    search: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class CaseSearch(SQLModel, table=True):
    """The terms each case is found by (`storage.search_terms`), kept current by
    `storage.search.reindex_case` in the transaction that changes the case. SQLite's
    FTS5 table `case_search_fts` follows this one through triggers (migration 0015);
    PostgreSQL searches `terms` itself through a GIN index."""

    __tablename__ = "case_search"

    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    terms: list[str] = Field(default_factory=list, sa_column=Column(SearchTerms, nullable=False))


class AccessLogRow(SQLModel, table=True):
    """Append-only record of who accessed or changed what (logins, case views,
    exports, user and token changes). Written only by `storage.access_log.record_access`,
    which chains it to the entry before (`seq`, `prev_hash`, `hash`)."""

    __tablename__ = "access_log"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime = _time(index=True)
    actor: str
    role: str
    action: str
    target: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    via: str
    address: str | None = None
    prev_hash: str
    hash: str


class ApiToken(SQLModel, table=True):
    """A bearer token of the API (`complaintbot tokens create`): its name (who uses it),
    its role, and the SHA-256 of the token; the token itself is shown once and never
    stored. A revoked token keeps its row, so what it did stays attributable."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str
    token_hash: str = Field(unique=True)
    created_at: datetime = _time()
    revoked_at: datetime | None = _time(nullable=True)
    last_used_at: datetime | None = _time(nullable=True)


class WebVisitor(SQLModel, table=True):
    """A web chat conversation's visitor: from which address it began (the limit of
    open drafts per address), when its page last listened, and the last message it
    showed (an agent's reply not seen is also mailed)."""

    __tablename__ = "web_visitors"

    conversation: str = Field(primary_key=True)
    address: str | None = Field(default=None, index=True)
    created_at: datetime = _time()
    last_seen_at: datetime = _time()
    seen_message_id: int = 0


class StatusCode(SQLModel, table=True):
    """A one-time code the status page sent for a case (`storage.status_codes`): the
    SHA-256 of the code, never the code; where it went; until when it works. A code
    dies when it is used, after `MAX_ATTEMPTS` wrong tries, or when a newer code for
    the case replaces it (its `expires_at` is then moved to that moment). Rows are kept:
    they count the codes sent per case per hour."""

    __tablename__ = "status_codes"
    __table_args__ = (Index("ix_status_codes_case_created", "case_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    code_hash: str
    address: str
    created_at: datetime = _time()
    expires_at: datetime = _time()
    attempts: int = 0
    used_at: datetime | None = _time(nullable=True)
