"""Telegram's published rate limits, as the dispatcher keeps them."""

from __future__ import annotations

from delivery.sending import ChannelPacing, Rate

# Messages that may go at once overall after a quiet moment.
_OVERALL_BURST = 5


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
    # Overall, Telegram counts messages per second. A bucket alone of B tokens refilling
    # N a second lets B + N - 1 into one second, so it is kept within a sliding window
    # of N a second: a few messages go at once after a quiet moment (a turn's answer
    # need not wait 1/30 s behind a card to the agents' group), the rate stays N, and no
    # second ever holds more than N.
    overall = Rate.per(per_second, 1.0, burst=_OVERALL_BURST, window=True)
    # A group's minute is kept as a sliding window instead: the agents' group is where
    # people wait for the bot (an agent's command, the verification's edits), and a
    # window lets what the minute allows go at once instead of one every 3 s. A second
    # more than the minute covers a request delayed on its way.
    group = Rate.per(group_per_minute, 61.0, window=True)

    def per_conversation(conversation: str) -> Rate:
        return group if conversation.startswith("-") else private

    return ChannelPacing(overall=overall, per_conversation=per_conversation)
