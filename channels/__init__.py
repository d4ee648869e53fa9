"""Transports: each turns its raw input into `bot.messages.Inbound` and sends `Outbound`.

Nothing about complaints lives here. One folder per channel (`telegram/`, `email/`,
`console/`), each with a `channel.py` that declares it (`spec.Channel`: name, label,
whether the settings turn it on, how it opens, starts, stops, sends and is paced);
`registry.py` lists them. Channels import `delivery.sending` for what a sender is, and
never storage, reporting or the wiring in `complaintbot/`: what they need from those
comes in a `spec.ChannelContext`.
"""
