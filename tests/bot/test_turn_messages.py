"""How a turn's replies become messages (`bot.conversation.merge_replies`): the rules
the intake tests cannot reach with ordinary answers."""

from __future__ import annotations

from bot.conversation import MAX_MERGED_TEXT, merge_replies
from bot.messages import Button, Reply

CHOICE = ((Button("Yes", "y"),),)


def test_text_joins_the_next_reply_and_buttons_end_a_message() -> None:
    merged = merge_replies(
        [
            (Reply("Noted."), "reply", None),
            (Reply("Continue?", CHOICE), "reply", None),
            (Reply("Also this."), "reply", None),
            (Reply("Your number?", contact_button="Share"), "reply", None),
            (Reply("Thanks."), "reply", None),
        ]
    )
    assert merged == [
        (Reply("Noted.\n\nContinue?", CHOICE), "reply", None),
        (Reply("Also this.\n\nYour number?", contact_button="Share"), "reply", None),
        (Reply("Thanks."), "reply", None),
    ]


def test_the_receipt_stays_a_receipt_and_two_cases_stay_apart() -> None:
    merged = merge_replies(
        [
            (Reply("Your edit was recorded."), "reply", None),
            (Reply("Accepted: TS-1"), "receipt", "TS-1"),
            (Reply("About TS-2"), "reply", "TS-2"),
        ]
    )
    assert merged == [
        (Reply("Your edit was recorded.\n\nAccepted: TS-1"), "receipt", "TS-1"),
        (Reply("About TS-2"), "reply", "TS-2"),
    ]


def test_a_merge_never_makes_a_message_longer_than_telegram_takes() -> None:
    long = "x" * (MAX_MERGED_TEXT - 10)
    merged = merge_replies([(Reply(long), "reply", None), (Reply("Next question?"), "reply", None)])
    assert [reply.text for reply, _kind, _case in merged] == [long, "Next question?"]
    fits = "y" * (MAX_MERGED_TEXT - 2 - len("Next?"))
    (one,) = merge_replies([(Reply(fits), "reply", None), (Reply("Next?"), "reply", None)])
    assert len(one[0].text) == MAX_MERGED_TEXT
