"""A chat in the terminal: the same flow as Telegram, for a first try without any account.

- `channel`: the registry's entry; the console runs when no other channel is configured.
- `chat`: lines → `Inbound`, `Outbound` → printed lines (buttons as numbers).
"""

CHANNEL = "console"
