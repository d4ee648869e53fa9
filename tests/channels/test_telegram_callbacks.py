"""A button press is its sender's: a callback whose message names someone else's chat
(a forged client can send one) acts in the sender's own conversation, never in the
chat it names."""

from __future__ import annotations

from typing import Any

from complaintbot.settings import Settings
from tests.channels import test_telegram
from tests.support.telegram_api import FakeBotApi, FakeUser

running = test_telegram.running


def continue_button(user: FakeUser) -> tuple[dict[str, Any], str]:
    """The newest message of `user`'s chat with a Continue button, and that button's data."""
    for message in reversed(user.messages):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == "Continue":
                    shown = {k: v for k, v in message.items() if k != "file_bytes"}
                    return shown, button["callback_data"]
    raise AssertionError("no Continue button")


async def test_a_press_forged_into_someone_elses_chat_acts_for_its_sender(
    api: FakeBotApi, running: Settings
) -> None:
    alice = api.user(5201, "Alice", "en")
    mallory = api.user(5202, "Mallory", "en")
    mark = len(alice.messages)
    await alice.send_text("My broadband was cut off without notice")
    await alice.expect("Add more if you like", since=mark)
    message, data = continue_button(alice)

    # Mallory's client sends a press of Alice's button, in the message of Alice's chat.
    said = len(mallory.messages)
    await api.push(
        {
            "callback_query": {
                "id": "cq-forged",
                "from": mallory.sender,
                "message": message,
                "chat_instance": str(alice.id),
                "data": data,
            }
        }
    )
    answer = await mallory.expect("That button is no longer active.", since=said)
    assert answer.startswith("That button is no longer active.")

    # Alice's complaint did not move: her own press is the one that goes on.
    mark = len(alice.messages)
    await alice.press("Continue")
    asked = await alice.expect("What is your name", since=mark)
    assert asked.count("What is your name") == 1
    assert not any("What is your name" in (m.get("text") or "") for m in alice.messages[:mark])
