"""Telegram through python-telegram-bot.

- `channel`: the registry's entry (settings, start and stop, pacing); imports no
  telegram library until the channel is opened.
- `application`: the python-telegram-bot `Application` and the `TelegramChannel` that
  hands updates to the bot and checks the agents' group.
- `polling`: `getUpdates` read as JSON; `intake`: each update stored raw before it is
  acknowledged, then decoded and handed to the bot (an undecodable one is kept and
  skipped; while the database is unavailable nothing is acknowledged).
- `updates`: `Update` → `Inbound`.
- `sender`: `Outbound` → Bot API calls (topics, long texts, files).
- `pacing`: Telegram's published rate limits.

A thread, for the bot an opaque string, is here either a forum topic (`topic:ID`) or
the replies to one message (`reply:ID`) in a group without topics.
"""

CHANNEL = "telegram"
