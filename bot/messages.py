"""Channel-neutral message values: what channels hand to the bot and what it hands back.

A channel adapter turns its transport's raw input into one `Inbound` and turns an
`Outbound` back into a transport call. Nothing here knows Telegram, mail or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class InboundKind(StrEnum):
    """What a person did, as far as the bot cares."""

    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    ATTACHMENT = "attachment"
    EDIT = "edit"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a person sent, already fetched from the transport.

    `data` is None when the transport refused to hand the file over (too large);
    the bot then tells the person instead of storing an empty file.
    """

    name: str
    mime: str
    data: bytes | None
    size: int
    transport_file_id: str = ""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person sent on a channel.

    `transport_id` is unique per channel (Telegram update id, mail Message-ID + UID,
    console line id) and is how a redelivered message is recognised.
    `conversation` identifies the chat the reply goes back to.
    """

    channel: str
    transport_id: str
    conversation: str
    sender_id: str
    received_at: datetime
    kind: InboundKind
    text: str = ""
    sender_name: str = ""
    language_code: str | None = None
    command: str | None = None
    command_args: str = ""
    button_data: str | None = None
    phone: str | None = None
    attachments: tuple[Attachment, ...] = ()
    edited_message_id: str | None = None
    message_id: str | None = None
    unsupported_what: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message the bot wants a person to see, queued in the outbox.

    `text` is plain text; channels escape it for their markup. `buttons` are rows of
    inline choices; `contact_button`, when set, is the label of the channel's
    "share my phone number" control.
    """

    channel: str
    conversation: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    contact_button: str | None = None
    case_no: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in self.buttons],
            "contact_button": self.contact_button,
        }

    @classmethod
    def from_payload(
        cls, channel: str, conversation: str, payload: dict[str, Any], case_no: str | None = None
    ) -> Outbound:
        return cls(
            channel=channel,
            conversation=conversation,
            text=payload["text"],
            buttons=tuple(
                tuple(Button(b["label"], b["data"]) for b in row)
                for row in payload.get("buttons", [])
            ),
            contact_button=payload.get("contact_button"),
            case_no=case_no,
        )
