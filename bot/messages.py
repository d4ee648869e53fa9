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


class ConversationStyle(StrEnum):
    """How people talk to the bot on a channel; the channel sets it on every `Inbound`.

    In a CHAT, messages are short and come one after another, so the bot asks for the
    complaint's fields one question at a time. A LETTER (a mail) is a whole complaint
    in one message: a new one opens a case at once, a reply joins its case, and robots'
    letters are filed and never answered.
    """

    CHAT = "chat"
    LETTER = "letter"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a person sent, already fetched from the transport.

    `data` is None when the transport refused to hand the file over (too large);
    the bot then tells the person instead of storing an empty file. A large file the
    channel already wrote to disk (a mail's original) has `path` instead of `data`, and
    its `size` and `sha256`; storage copies it from there.
    """

    name: str
    mime: str
    data: bytes | None
    size: int
    transport_file_id: str = ""
    sha256: str = ""
    path: str | None = None

    @property
    def received(self) -> bool:
        """Whether the file is at hand (in memory or on disk) to be stored."""
        return self.data is not None or self.path is not None

    def to_ref(self) -> dict[str, Any]:
        return {"name": self.name, "mime": self.mime, "size": self.size, "sha256": self.sha256}


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
    # Group chats: `group` is True; `thread_id` is the topic or thread the message is in
    # and `reply_to` the id of the message it answers, both as the channel names them.
    # A button press (any chat) has in `reply_to` the id of the message the button is on.
    group: bool = False
    thread_id: str | None = None
    reply_to: str | None = None
    sender_username: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # Mail: the subject, the Message-IDs it answers (In-Reply-To and References, or
    # what a delivery report says bounced), and why it came from a robot (never answer).
    subject: str = ""
    references: tuple[str, ...] = ()
    automated: str | None = None
    style: ConversationStyle = ConversationStyle.CHAT
    # The version of the privacy notice the person agreed to in the channel's own
    # page before writing (the web chat asks); None where the channel does not ask.
    consent: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says in a turn, before it is addressed and queued as an `Outbound`."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    contact_button: str | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message the bot wants a person to see, queued in the outbox.

    `text` is plain text; channels escape it for their markup. `buttons` are rows of
    inline choices; `contact_button`, when set, is the label of the channel's
    "share my phone number" control.

    In a group, `case_thread` posts into the thread of `case_no` (the outbox looks the
    thread up when it sends, so a message queued before the thread exists still lands
    in it); `new_thread` opens a thread with this title, starting with this message.
    `files` travel as references; the outbox loads their bytes when it sends.
    `edit`, when set, is the chat-local id of an earlier bot message (as a button press's
    `Inbound.reply_to` names it) that this one replaces in place, buttons included; a
    channel that cannot edit sends it as a new message.
    """

    channel: str
    conversation: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    contact_button: str | None = None
    case_no: str | None = None
    case_thread: bool = False
    new_thread: str | None = None
    thread: str | None = None
    files: tuple[Attachment, ...] = ()
    # Mail, filled in by the outbox when it sends: the case's subject and message ids
    # (oldest first, the one answered last), and whether a robot wrote it (RFC 3834).
    # A `subject` given when queued makes a letter of a thread of its own with its
    # addressee (a partner), which a person wrote: the outbox fills in only that
    # thread's message ids.
    subject: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False
    edit: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "text": self.text,
            "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in self.buttons],
            "contact_button": self.contact_button,
        }
        if self.case_thread:
            payload["case_thread"] = True
        if self.new_thread:
            payload["new_thread"] = self.new_thread
        if self.thread and not self.case_thread:
            payload["thread"] = self.thread
        if self.files:
            payload["files"] = [f.to_ref() for f in self.files]
        if self.edit:
            payload["edit"] = self.edit
        if self.subject is not None:
            payload["subject"] = self.subject
        return payload

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
            case_thread=bool(payload.get("case_thread")),
            new_thread=payload.get("new_thread"),
            thread=payload.get("thread"),
            files=tuple(
                Attachment(f["name"], f["mime"], None, f["size"], sha256=f["sha256"])
                for f in payload.get("files", [])
            ),
            edit=payload.get("edit"),
            subject=payload.get("subject"),
        )
