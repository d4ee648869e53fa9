"""Telegram's published rate limits, as the dispatcher keeps them."""

from __future__ import annotations

from delivery.sending import ChannelPacing, Rate


def telegram_pacing(
    per_second: float = 30,
    chat_per_second: float = 1,
    group_per_minute: float = 20,
    chat_burst: int = 3,
) -> ChannelPacing:
    """Telegram's published limits: about 30 messages a second overall, one a second in
    a private chat (short bursts tolerated: `chat_burst` at once), 20 a minute in a
    group (group chat ids are negative). Edits count like sends."""
    private = Rate.per(chat_per_second, 1.0, burst=chat_burst)
    # Overall and in groups Telegram counts messages per window (a second, a minute),
    # and a bucket of B tokens refilling N per window lets B + N - 1 into one window:
    # B = N would be 59 in the second where a full bucket meets its refill. Any B > 1
    # has to be paid for with a slower refill, and these two are the budgets every
    # case shares (one bot, one agents' group), so throughput wins over bursts: B = 1,
    # messages spread evenly (one every 1/30 s, one every 3 s in a group), at most N in
    # any window. Even spacing also keeps a request delayed on its way from turning
    # into N + 1 in Telegram's window.
    overall = Rate.per(per_second, 1.0, burst=1)
    group = Rate.per(group_per_minute, 60.0, burst=1)

    def per_conversation(conversation: str) -> Rate:
        return group if conversation.startswith("-") else private

    return ChannelPacing(overall=overall, per_conversation=per_conversation)
