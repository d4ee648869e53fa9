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
from bot.intake import Intake
from bot.messages import Inbound, Outbound, Reply
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
    ) -> ChatTurn:
        tr = state.translator(default_locale)
        return cls(inbound, tx, state, tr, Intake(tr, phone_region))

    def say(self, *replies: Reply, kind: str = "reply", case_no: str | None = None) -> None:
        self.replies.extend((reply, kind, case_no) for reply in replies)

    def speak(self, locale: str) -> None:
        """Answers in `locale` from now on, in this turn and the next ones."""
        self.state.locale = locale
        self.tr = Translator(locale)
        self.intake = Intake(self.tr, self.intake.phone_region)

    async def send(self, at: datetime) -> None:
        """Queues the turn's replies to the person, in the order they were said."""
        for reply, kind, case_no in self.replies:
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
