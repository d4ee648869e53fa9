"""A chat with a complainant: what it remembers between messages, and one turn of it.

`ConversationState` is stored as JSON with the conversation. A `ChatTurn` is the
working set of one message: the stored state, the person's language, and the
replies gathered for it, queued together when the turn ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.draft import Draft
from bot.i18n import Translator, locale_for
from bot.intake import Intake, IntakeResult
from bot.messages import Inbound, Outbound, Reply
from bot.notice import PrivacyNotice
from bot.ports import ConversationTx


@dataclass(slots=True)
class ConversationState:
    """What is remembered about a conversation between two messages."""

    locale: str | None = None
    language_code: str | None = None
    draft: Draft | None = None
    # The case whose survey was just answered: the next text is its comment.
    commenting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "locale": self.locale,
            "language_code": self.language_code,
            "draft": self.draft.to_json() if self.draft else None,
            "commenting": self.commenting,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ConversationState:
        if not data:
            return cls()
        draft = data.get("draft")
        return cls(
            locale=data.get("locale"),
            language_code=data.get("language_code"),
            draft=Draft.from_json(draft) if draft else None,
            commenting=data.get("commenting"),
        )

    def translator(self, default_locale: str) -> Translator:
        """The person's language: chosen with /language, else their app's, else ours."""
        return Translator(self.locale or locale_for(self.language_code, default_locale))


@dataclass(slots=True)
class ChatTurn:
    """The working set of one handled chat message."""

    inbound: Inbound
    tx: ConversationTx
    state: ConversationState
    tr: Translator
    intake: Intake
    replies: list[tuple[Reply, str, str | None]] = field(default_factory=list)

    @classmethod
    def begin(
        cls,
        inbound: Inbound,
        tx: ConversationTx,
        state: ConversationState,
        default_locale: str,
        phone_region: str,
        notice: PrivacyNotice | None = None,
    ) -> ChatTurn:
        tr = state.translator(default_locale)
        return cls(inbound, tx, state, tr, Intake(tr, phone_region, notice))

    def begin_intake(self) -> IntakeResult:
        """A new intake from this message: greeted with the privacy notice, and with the
        agreement the channel's page asked for, if the message carries it."""
        return self.intake.begin(self.inbound.received_at, consent=self.inbound.consent)

    def say(self, *replies: Reply, kind: str = "reply", case_no: str | None = None) -> None:
        self.replies.extend((reply, kind, case_no) for reply in replies)

    def speak(self, locale: str) -> None:
        """Answers in `locale` from now on, in this turn and the next ones."""
        self.state.locale = locale
        self.tr = Translator(locale)
        self.intake = Intake(self.tr, self.intake.phone_region, self.intake.notice)

    async def send(self, at: datetime) -> None:
        """Queues the turn's replies to the person, in the order they were said, merged
        into as few messages as fit (`merge_replies`)."""
        for reply, kind, case_no in merge_replies(self.replies):
            await self.tx.enqueue(
                Outbound(
                    channel=self.inbound.channel,
                    conversation=self.inbound.conversation,
                    text=reply.text,
                    buttons=reply.buttons,
                    contact_button=reply.contact_button,
                    case_no=case_no,
                ),
                kind,
                at,
            )


# Telegram's longest message; a merged message stays under it so that no merge makes
# the channel cut a text that was said whole (a longer single reply is still cut).
MAX_MERGED_TEXT = 4096

QueuedReply = tuple[Reply, str, str | None]


def merge_replies(replies: list[QueuedReply]) -> list[QueuedReply]:
    """One message per turn where it fits: the acknowledgement, the next question and
    its buttons arrive together instead of as two or three messages.

    A run of button-less replies joins the next reply (texts apart by a blank line);
    a reply with buttons or a contact button ends its message, so the controls stay
    under the text they belong to. Replies about two different cases stay apart, and
    so does a text that would make the message longer than `MAX_MERGED_TEXT`. A merged
    message that holds the receipt is the receipt (the outbox marks it sent by kind).
    """
    merged: list[QueuedReply] = []
    open_group = False  # whether the last merged message may take more text
    for reply, kind, case_no in replies:
        if open_group and _joinable(merged[-1], reply, case_no):
            last, last_kind, last_case = merged[-1]
            reply = Reply(f"{last.text}\n\n{reply.text}", reply.buttons, reply.contact_button)
            kind = "receipt" if "receipt" in (kind, last_kind) else last_kind
            case_no = case_no or last_case
            merged[-1] = (reply, kind, case_no)
        else:
            merged.append((reply, kind, case_no))
        open_group = not (reply.buttons or reply.contact_button)
    return merged


def _joinable(last: QueuedReply, reply: Reply, case_no: str | None) -> bool:
    text, _kind, last_case = last
    if last_case and case_no and last_case != case_no:
        return False
    return len(text.text) + 2 + len(reply.text) <= MAX_MERGED_TEXT
