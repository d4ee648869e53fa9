"""The dispatcher tells each send's outcome (what `/metrics` counts): sent with its
latency from queued to sent, retried, 429, and failed when given up."""

from __future__ import annotations

from delivery.ports import OutboxStore
from delivery.sending import DeliveryError
from tests.delivery.test_dispatcher import ChatSender, Repo, dispatcher, queue
from tests.support.clock import FakeClock


async def test_sent_429_retried_and_failed_are_reported_with_the_latency_of_a_send(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    sender = ChatSender()
    sender.failures["a"] = [DeliveryError("Too Many Requests", permanent=False, retry_after=30)]
    sender.failures["b"] = [DeliveryError("502 Bad Gateway", permanent=False)]
    sender.failures["c"] = [DeliveryError("Forbidden: bot was blocked", permanent=True)]
    for conversation in ("a", "b", "c", "d"):
        await queue(repository, clock, conversation, [f"hello {conversation}"])
    observed: list[tuple[str, str, float | None]] = []
    observing = dispatcher(outbox, sender, clock, observe=lambda *outcome: observed.append(outcome))

    clock.advance(seconds=3)
    await observing.run_once()
    assert sorted(observed) == [
        ("test", "429", None),
        ("test", "failed", None),
        ("test", "retried", None),
        ("test", "sent", 3.0),
    ]
    observed.clear()
    clock.advance(seconds=31)
    while await observing.run_once():
        pass
    # The 429'd and the retried message went 34 s after they were queued.
    assert observed == [("test", "sent", 34.0), ("test", "sent", 34.0)]
    assert sorted(sender.texts("a") + sender.texts("b")) == ["hello a", "hello b"]
