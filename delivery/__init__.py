"""The outbox dispatcher: what is sent when, paced per channel, retried on transient errors."""
