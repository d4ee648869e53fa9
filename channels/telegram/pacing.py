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
    a private chat (short bursts tolerated: `chat_burst` at once), 20 in any minute in
    a group (group chat ids are negative). Edits count like sends."""
    private = Rate.per(chat_per_second, 1.0, burst=chat_burst)
    # Overall, Telegram counts messages per second, and a bucket of B tokens refilling
    # N per window lets B + N - 1 into one window: B = N would be 59 in the second where
    # a full bucket meets its refill. Any B > 1 has to be paid for with a slower refill,
    # and this budget is every case's, so throughput wins over bursts: B = 1, one message
    # every 1/30 s, which also keeps a request delayed on its way from turning into 31
    # in Telegram's second.
    overall = Rate.per(per_second, 1.0, burst=1)
    # A group's minute is kept as a sliding window instead: the agents' group is where
    # people wait for the bot (an agent's command, the verification's edits), and a
    # window lets what the minute allows go at once instead of one every 3 s. A second
    # more than the minute covers a request delayed on its way.
    group = Rate.per(group_per_minute, 61.0, window=True)

    def per_conversation(conversation: str) -> Rate:
        return group if conversation.startswith("-") else private

    return ChannelPacing(overall=overall, per_conversation=per_conversation)
