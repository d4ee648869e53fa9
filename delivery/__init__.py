"""Delivery of the outbox: what is sent when, paced per channel, retried on transient errors.

- `sending`: what a channel implements and returns (`Sender`, `Sent`, `DeliveryError`)
  and how it is paced (`ChannelPacing`, `Rate`): the only module channels import.
- `ports`: what the dispatcher needs from the outbox (`OutboxStore`, `Delivery`).
- `pacing`: rate limits kept with sliding windows (`Pacer`).
- `dispatcher`: the loop that claims due items and sends them (`Dispatcher`).
"""
