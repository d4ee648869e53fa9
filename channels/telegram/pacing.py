"""Telegram's published rate limits, as the dispatcher keeps them."""

from __future__ import annotations

from delivery.sending import ChannelPacing, Rate


def telegram_pacing(
    per_second: float = 30, chat_per_second: float = 1, group_per_minute: float = 20
) -> ChannelPacing:
    """Telegram's published limits: about 30 messages a second overall, one a second in
    a private chat, 20 a minute in a group (group chat ids are negative)."""
    private, group = Rate.per(chat_per_second, 1.0), Rate.per(group_per_minute, 60.0)

    def per_conversation(conversation: str) -> Rate:
        return group if conversation.startswith("-") else private

    # Overall, messages are spread evenly (one every 1/30 s) rather than sent 30 at a
    # time: a burst at the edge of a second is what a request delayed on its way turns
    # into 31 in Telegram's second.
    return ChannelPacing(overall=Rate(1, 1 / per_second), per_conversation=per_conversation)
