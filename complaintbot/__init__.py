"""Command line and wiring: puts the bot, its channels, storage and the scheduler together."""
