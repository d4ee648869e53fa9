"""The small interfaces the bot needs from the rest of the system.

`storage/` implements `Repository`; tests and the CLI inject a `Clock`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from bot.domain import CaseStatus, Category, NoticeGiven
from bot.draft import DescriptionEdit, EvidenceRef
from bot.messages import Attachment, Inbound, Outbound


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class OpeningEvent:
    """One of the first events on a new case's timeline, all by its complainant
    (storage names them: their number is allocated with the case)."""

    at: datetime
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewCase:
    """Everything a confirmed intake hands to storage to open a case.

    `status` and `events` are the bot's decision (`bot.opening.with_opening` fills them in);
    storage writes them as they are.
    """

    prefix: str
    number_day: date  # the local day the case number carries
    channel: str
    conversation: str
    locale: str
    name: str
    phone: str | None
    email: str | None
    category: Category
    subject: str
    description: str
    expectation: str
    evidence: tuple[EvidenceRef, ...]
    description_edits: tuple[DescriptionEdit, ...]
    received_at: datetime
    created_at: datetime
    response_due_at: datetime
    receipt_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    timers: tuple[tuple[str, datetime], ...] = ()
    status: CaseStatus = CaseStatus.NEW
    events: tuple[OpeningEvent, ...] = ()
    # Entered from elsewhere (`bot.external`): where from, the sender's reference, and
    # who entered it; None for a case that came by a channel.
    source: str | None = None
    external_ref: str | None = None
    entered_by: str | None = None
    # How the complainant was given the privacy notice (the `privacy_notice` event);
    # None records nothing.
    privacy: NoticeGiven | None = None


@dataclass(frozen=True, slots=True)
class CaseThread:
    """A case's messages on a threaded channel (mail), as stored: the subject and each
    message id with its direction ("in" or "out"), oldest first."""

    subject: str
    messages: tuple[tuple[str, str], ...]

    @property
    def references(self) -> tuple[str, ...]:
        """How a message we send threads under them: every id once, oldest first, but
        the complainant's latest last — what we send answers it, and In-Reply-To is
        taken from the end (RFC 5322: References end with the parent)."""
        ids = list(dict.fromkeys(ref for ref, _ in self.messages))
        answered = [ref for ref, direction in self.messages if direction == "in"]
        if answered:
            ids.remove(answered[-1])
            ids.append(answered[-1])
        return tuple(ids)


@dataclass(frozen=True, slots=True)
class ThreadOpening:
    """A message queued to open a thread of its own (`Outbound.new_thread`): the thread
    once it is delivered and the channel has threads there; None until then, or where
    the channel posted it as a plain message."""

    thread: str | None


@dataclass(frozen=True, slots=True)
class CaseView:
    """What a complainant may see of one of their own cases."""

    case_no: str
    status: CaseStatus
    category: Category
    subject: str
    received_at: datetime
    response_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """A staff member as the desk knows them; `id` is also their public number."""

    id: int
    channel: str
    external_id: str
    name: str
    username: str | None = None


@dataclass(slots=True)
class CaseRecord:
    """A whole case as the desk works on it; `save_case` writes the changed fields back."""

    id: int
    case_no: str
    status: CaseStatus
    channel: str
    conversation: str
    complainant_id: int
    locale: str
    name: str
    phone: str | None
    email: str | None
    category: Category
    subject: str
    description: str
    expectation: str
    received_at: datetime
    response_due_at: datetime | None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    receipt_sent_at: datetime | None = None
    handler: AgentRecord | None = None
    agent_thread: str | None = None
    escalated_at: datetime | None = None
    resolution: str | None = None
    verification: dict[str, str] | None = None
    receipt_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    clock_paused_at: datetime | None = None
    reopened_count: int = 0
    archived_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PartnerRecord:
    """A partner of the directory a case may be referred to; `sla` is their usual time
    to answer as a duration ("3wd"), None when the directory gives none."""

    key: str
    name: str
    email: str
    sla: str | None = None
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ReferralRecord:
    """A case referred to a partner: asked what (`text`), by when; the case keeps its
    status. `message_id`: the mail that asked, once sent."""

    partner: str
    asked_at: datetime
    due_at: datetime
    text: str
    share_contact: bool = False
    answered_at: datetime | None = None
    message_id: str | None = None
    id: int | None = None  # None until stored


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A timer the sweep found due, and the conversation whose lock its case is handled under."""

    id: int
    case_no: str
    channel: str
    conversation: str


@dataclass(frozen=True, slots=True)
class DueErasure:
    """An archived case whose personal data is due for erasure (no personal data here)."""

    case_no: str
    archived_at: datetime


class RetentionStore(Protocol):
    """Archived cases still holding personal data, and their erasure."""

    async def archived_before(self, cutoff: datetime, limit: int) -> list[DueErasure]: ...

    async def erase(self, case_no: str, cutoff: datetime, at: datetime) -> bool:
        """Erases the case when still due; False when it is not (or no longer)."""
        ...


@dataclass(frozen=True, slots=True)
class TimerRecord:
    id: int
    kind: str
    due_at: datetime


@dataclass(slots=True)
class SurveyRecord:
    """One satisfaction callback of a case; `save_survey` writes it back."""

    id: int
    round: int
    asked_at: datetime | None = None
    reminded_at: datetime | None = None
    answered_at: datetime | None = None
    score: int | None = None
    comment: str | None = None
    outcome: str | None = None

    @property
    def awaiting_answer(self) -> bool:
        """Asked, and neither answered nor closed without an answer."""
        return self.asked_at is not None and self.answered_at is None and self.outcome is None


class ConversationStore(Protocol):
    """The conversation itself: its raw messages, its dialogue state, its files."""

    async def record_inbound(self, inbound: Inbound) -> bool:
        """Stores the raw message; False when this transport id was already stored."""
        ...

    async def load_state(self) -> dict[str, Any] | None: ...

    async def save_state(self, state: dict[str, Any]) -> None: ...

    async def store_evidence(
        self, attachment: Attachment, received_at: datetime
    ) -> EvidenceRef: ...

    async def previous_text(self, message_id: str) -> str | None:
        """The text this conversation's message had before the edit being handled."""
        ...


class CaseStore(Protocol):
    """Cases, their timeline and the agents who work them."""

    async def create_case(self, case: NewCase) -> str:
        """Opens the case and returns its number; the serial is allocated in this transaction."""
        ...

    async def own_cases(self) -> list[CaseView]:
        """Cases of the complainant behind this conversation's sender, newest first."""
        ...

    async def case(self, case_no: str) -> CaseRecord | None:
        """The case, locked for this transaction."""
        ...

    async def case_by_thread(self, thread: str) -> CaseRecord | None:
        """The case whose agents' thread (in this conversation) is `thread`."""
        ...

    async def case_by_message(self, message_id: str) -> CaseRecord | None:
        """The case a message of this conversation belongs to."""
        ...

    async def case_by_references(self, references: tuple[str, ...]) -> CaseRecord | None:
        """The case of the first of these message ids (mail: In-Reply-To, References)
        that names a message of this channel, in or out, in any conversation."""
        ...

    async def latest_case_of_sender(self) -> CaseRecord | None:
        """The newest case of this sender that is not archived."""
        ...

    async def open_cases(self, statuses: frozenset[CaseStatus]) -> list[CaseRecord]:
        """Cases in these statuses (those agents still owe an answer), soonest deadline
        first."""
        ...

    async def save_case(self, case: CaseRecord) -> None: ...

    async def add_event(
        self, case: CaseRecord, at: datetime, actor: str, kind: str, payload: dict[str, Any]
    ) -> None:
        """Appends to the case's timeline."""
        ...

    async def attach_inbound(
        self, case: CaseRecord, evidence: tuple[EvidenceRef, ...] = ()
    ) -> None:
        """Files the message being handled (and its evidence) under the case."""
        ...

    async def case_files(self, case: CaseRecord) -> list[Attachment]:
        """The case's evidence, as references (no bytes)."""
        ...

    async def agent(
        self,
        channel: str,
        external_id: str,
        name: str,
        username: str | None,
        *,
        keep_username: bool = False,
    ) -> AgentRecord:
        """The agent with this identity, registered on first sight, name kept current
        (and the @username, unless `keep_username`: a tool that knows none)."""
        ...

    async def find_agent(self, who: str) -> AgentRecord | None:
        """An agent by @username, number or exact name."""
        ...


class TimerStore(Protocol):
    """Timers (deadlines, reminders) and satisfaction surveys, for the sweeps."""

    async def set_timers(
        self, case: CaseRecord, timers: list[tuple[str, datetime]], replacing: str | None = None
    ) -> None:
        """Adds timers (kind, due); first drops the case's pending timers whose kind
        starts with `replacing`."""
        ...

    async def claim_timer(self, timer_id: int) -> TimerRecord | None:
        """The timer if it is still pending and no other worker holds it."""
        ...

    async def finish_timer(self, timer: TimerRecord, at: datetime, fired: bool) -> None:
        """Marks the timer fired (it did something) or dropped (nothing left to do)."""
        ...

    async def move_timer(self, timer: TimerRecord, due_at: datetime) -> None: ...

    async def timer_pending(self, case: CaseRecord, kind: str) -> bool:
        """Whether the case has a pending timer of this kind."""
        ...

    async def timer_last_finished(self, case: CaseRecord, kind: str) -> datetime | None:
        """When the case's latest timer of this kind fired or was dropped; None: never."""
        ...

    async def new_survey(self, case: CaseRecord, at: datetime) -> SurveyRecord: ...

    async def last_contact(self, case: CaseRecord) -> datetime | None:
        """When we last queued a message to the case's complainant."""
        ...

    async def latest_survey(self, case: CaseRecord) -> SurveyRecord | None: ...

    async def save_survey(self, case: CaseRecord, survey: SurveyRecord) -> None: ...

    async def case_awaiting_rating(self) -> CaseRecord | None:
        """This sender's newest case whose survey was asked and not answered."""
        ...


class ReplyQueue(Protocol):
    """The outbox, as the bot fills it."""

    async def enqueue(
        self,
        outbound: Outbound,
        kind: str,
        at: datetime,
        *,
        answer: bool = False,
        notice: bool = False,
    ) -> None:
        """Queues a reply in the outbox, committed with the state change that caused it.

        `answer`: it answers the complainant on an agent's behalf (the first one
        delivered is the case's first response); anything else is automatic.
        `notice`: an automated notice (reminder, escalation, survey) that no one is
        waiting for; answers to people's own actions go before it."""
        ...

    async def automatic_replies_since(self, since: datetime) -> int:
        """How many automatic replies (not agents' answers) were queued to this
        conversation since `since`."""
        ...

    async def thread_opened_by(self, kind: str) -> ThreadOpening | None:
        """The latest message of `kind` queued to this conversation, as the opener of a
        thread; None when there was none."""
        ...


class PartnerStore(Protocol):
    """The partner directory and the referrals of cases to partners."""

    async def partner(self, key: str) -> PartnerRecord | None:
        """The partner with this key, disabled or not; None when there is none."""
        ...

    async def add_referral(
        self, case: CaseRecord, referral: ReferralRecord, asked_by: int | None
    ) -> int:
        """Records the referral; returns its id."""
        ...

    async def referrals(self, case: CaseRecord) -> list[ReferralRecord]:
        """The case's referrals, oldest first."""
        ...

    async def partners_at(self, address: str) -> list[PartnerRecord]:
        """The partners (disabled ones too) whose address this is, in any letter case."""
        ...

    async def referral_answered(self, referral_id: int, at: datetime) -> None:
        """Records the partner's first answer to the referral (a later one changes
        nothing); its outcome follows from the times (`bot.referrals`)."""
        ...


class ShownAnswers(Protocol):
    """What the complainant's own page has shown them, where the channel tells (a
    chat page reports the messages it showed)."""

    async def answers_not_shown(self, case: CaseRecord, since: datetime | None) -> list[str]:
        """The texts of the agents' answers to the case delivered in its conversation
        after `since` (all when None) that its page has not shown, oldest first."""
        ...


class ConversationTx(
    ConversationStore, CaseStore, TimerStore, ReplyQueue, PartnerStore, ShownAnswers, Protocol
):
    """One transaction on one conversation, holding its lock until it ends.

    Leaving the context commits; an exception rolls everything back, including the
    stored inbound message, so the transport redelivers it. A handler that needs only
    one concern may ask for that narrower port.
    """


class Repository(Protocol):
    def conversation(
        self, channel: str, conversation: str, sender_id: str
    ) -> AbstractAsyncContextManager[ConversationTx]: ...

    async def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        """Pending timers due by `now`, earliest first."""
        ...

    async def conversation_of(self, case_no: str) -> tuple[str, str] | None:
        """The channel and conversation of the case (whose lock to take before working
        on it from outside its conversation); None when there is no such case."""
        ...


# ----- the status page (`bot.status_codes`) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusCase:
    """A case as the status page reads it: who may ask for it (its contacts) and what
    the one who proves it is shown."""

    id: int
    case_no: str
    status: CaseStatus
    subject: str
    locale: str
    phone: str | None
    email: str | None
    received_at: datetime
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None


@dataclass(slots=True)
class StatusCodeRecord:
    """One code sent for a case; `save_code` writes `attempts` and `used_at` back."""

    id: int
    case_id: int
    code_hash: str
    address: str
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of a case's timeline, as stored."""

    at: datetime
    kind: str
    payload: dict[str, Any]


class StatusCodeTx(Protocol):
    """One transaction of the status page, on one case at a time."""

    async def status_case(self, case_no: str) -> StatusCase | None:
        """The case with exactly this number, its row locked for the transaction (so
        two tries of one case's code are counted one after the other)."""
        ...

    async def codes_since(self, case_id: int, since: datetime) -> int:
        """How many codes were sent for the case since `since`."""
        ...

    async def issue_code(
        self, case_id: int, code_hash: str, address: str, at: datetime, expires_at: datetime
    ) -> None:
        """Stores a new code; the case's older codes that still work stop working at `at`."""
        ...

    async def current_code(self, case_id: int) -> StatusCodeRecord | None:
        """The case's newest code, whatever its state."""
        ...

    async def save_code(self, code: StatusCodeRecord) -> None: ...

    async def timeline(self, case_id: int, kinds: frozenset[str]) -> list[TimelineEntry]:
        """The case's events of these kinds, in order."""
        ...

    async def queue_code_mail(self, outbound: Outbound, at: datetime) -> None:
        """Queues the mail that carries a code in the outbox, committed with the code."""
        ...


class StatusCodeStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[StatusCodeTx]:
        """Commits when the block ends; an exception rolls everything back."""
        ...
