"""Transports: each turns its raw input into `bot.messages.Inbound` and sends `Outbound`.

Nothing about complaints lives here.
"""
