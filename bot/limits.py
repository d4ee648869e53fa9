"""How fast one complainant may write: a token bucket per conversation.

Each message takes a token; tokens come back at `per_minute` a minute, and at most
`burst` are kept, so a person can send `burst` messages at once and then one every
`60 / per_minute` seconds. A message that finds no token is over the limit: it is
stored (the router records every inbound before asking) but neither answered nor acted
on. The first message over the limit gets one polite notice; no other notice follows
until the bucket has filled up again, that is until the person has been quiet long
enough for a whole new burst — then the flood is over, and a later one is told again.

The bucket is kept in the conversation's stored state (under `STATE_KEY`), read and
written in the conversation's transaction, which holds its lock: it costs no query of
its own, survives a restart, and several workers share it. Agents — the agents' group,
or a member of the desk writing to the bot — are never limited.

A message counts at the time it was received by the transport's server (Telegram's date,
the IMAP server's arrival; never a client's clock), capped at the injected clock's now:
what piled up while the bot was stopped or the database down, handled at once when it
is back, is judged by how fast the person wrote, not by how fast we catch up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.conversation import ConversationState
from bot.i18n import Translator, locale_for
from bot.letters import letter_locale
from bot.messages import ConversationStyle, Inbound, Outbound
from bot.ports import Clock, ConversationTx
from bot.staff import DeskConfig

log = logging.getLogger(__name__)

STATE_KEY = "inbound_limit"


@dataclass(frozen=True, slots=True)
class InboundLimit:
    """The settings `INBOUND_MESSAGES_PER_MINUTE` and `INBOUND_BURST`; 0 turns it off."""

    per_minute: int = 60
    burst: int = 20

    @property
    def on(self) -> bool:
        return self.per_minute > 0 and self.burst > 0


@dataclass(frozen=True, slots=True)
class Bucket:
    """The tokens left at `at`, and whether this flood's notice was sent."""

    tokens: float
    at: datetime
    noticed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "at": self.at.isoformat(), "noticed": self.noticed}

    @classmethod
    def from_json(cls, data: Any) -> Bucket | None:
        """The stored bucket, or None when there is none (or it cannot be read)."""
        if not isinstance(data, dict):
            return None
        try:
            tokens, at = float(data["tokens"]), datetime.fromisoformat(data["at"])
            return cls(tokens, at, bool(data["noticed"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one message: whether it is served, whether it is the flood's first
    one over the limit (the notice goes with it), and the bucket to keep."""

    serve: bool
    notify: bool
    bucket: Bucket | None  # None: the limit is off or does not apply; nothing to keep


SERVE = Admission(serve=True, notify=False, bucket=None)


def take(limit: InboundLimit, bucket: Bucket | None, at: datetime) -> Admission:
    """Takes a token for a message sent at `at` (pure: no I/O). A message older than the
    bucket's last one (handled out of order) refills nothing and moves no time back."""
    if bucket is None:
        tokens = float(limit.burst)
        noticed = False
    else:
        elapsed = max((at - bucket.at).total_seconds(), 0.0)
        at = max(at, bucket.at)
        tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.per_minute / 60)
        # Full again: the person has been quiet for a whole burst; the flood is over.
        noticed = bucket.noticed and tokens < limit.burst
    if tokens >= 1:
        return Admission(True, False, Bucket(tokens - 1, at, noticed))
    return Admission(False, not noticed, Bucket(tokens, at, True))


class InboundLimits:
    """Decides, per inbound message, whether the complainant is over the limit."""

    def __init__(
        self,
        limit: InboundLimit,
        clock: Clock,
        *,
        default_locale: str,
        desk: DeskConfig | None = None,
        auto_reply_limit: int = 5,
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.default_locale = default_locale
        # (channel, sender id) of the desk's agents and supervisors: never limited.
        staff = (desk.agent_ids | desk.supervisor_ids) if desk else frozenset()
        self.exempt = frozenset((desk.channel, agent) for agent in staff) if desk else frozenset()
        self.auto_reply_limit = auto_reply_limit

    async def admit(self, tx: ConversationTx, inbound: Inbound) -> Admission:
        """The verdict on this message; the notice, when one is due, is queued here."""
        if (
            not self.limit.on
            or inbound.group
            or (inbound.channel, inbound.sender_id) in self.exempt
        ):
            return SERVE
        now = self.clock.now()
        stored = await tx.load_state() or {}
        # When it was sent, as the transport's server saw it, but never in our future.
        sent = min(inbound.received_at, now)
        admission = take(self.limit, Bucket.from_json(stored.get(STATE_KEY)), sent)
        if not admission.serve:
            log.info(
                "%s message %s over the inbound limit: stored, not answered",
                inbound.channel,
                inbound.transport_id,
            )
        if admission.notify and await self._may_notify(tx, inbound, now):
            await tx.enqueue(
                Outbound(
                    channel=inbound.channel,
                    conversation=inbound.conversation,
                    text=self._notice(inbound, stored),
                ),
                "inbound_limit",
                now,
            )
        return admission

    async def keep(self, tx: ConversationTx, admission: Admission) -> None:
        """Writes the bucket into the state as the message's handling left it."""
        if admission.bucket is None:
            return
        state = dict(await tx.load_state() or {})
        state[STATE_KEY] = admission.bucket.to_json()
        await tx.save_state(state)

    async def _may_notify(self, tx: ConversationTx, inbound: Inbound, now: datetime) -> bool:
        if inbound.automated:
            return False  # robots are never answered
        if inbound.style is ConversationStyle.LETTER:
            # The hourly cap on automatic mails to one address holds for this one too.
            since = now - timedelta(hours=1)
            return await tx.automatic_replies_since(since) < self.auto_reply_limit
        return True

    def _notice(self, inbound: Inbound, stored: dict[str, Any]) -> str:
        if inbound.style is ConversationStyle.LETTER:
            locale = letter_locale(inbound, self.default_locale)
        else:
            state = ConversationState.from_json(stored)
            if inbound.language_code:
                state.language_code = inbound.language_code
            locale = state.locale or locale_for(state.language_code, self.default_locale)
        tr = Translator(locale)
        return tr._(
            "You are sending messages faster than we can read them. Everything you sent "
            "is saved, but we will not answer for a while. Please wait a minute, then "
            "write again."
        )
