"""What the web chat's page sends → `Inbound`: a typed line, a button pressed, a phone
number given in the phone field, or a file. The page's payload is stored raw first
(`raw_updates`, under the conversation and the page's own id for the message) and read
from there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.messages import Attachment, Inbound, InboundKind
from channels.web import CHANNEL

MAX_TEXT = 4000  # characters in one message, as Telegram allows about as many
KINDS = ("text", "button", "contact", "file")


class Unreadable(ValueError):
    """The payload is not a message the chat sends."""


def check(payload: dict[str, Any]) -> None:
    """Raises `Unreadable` for a payload the page would never send."""
    kind = payload.get("kind")
    if kind not in KINDS:
        raise Unreadable("kind")
    for field in ("text", "data", "label", "phone", "lang", "consent", "on"):
        value = payload.get(field)
        if value is not None and not isinstance(value, str):
            raise Unreadable(field)
    if len(payload.get("text") or "") > MAX_TEXT:
        raise Unreadable("text")
    if kind == "button" and not payload.get("data"):
        raise Unreadable("data")
    if kind == "contact" and not payload.get("phone"):
        raise Unreadable("phone")
    if kind == "file" and not isinstance(payload.get("file"), dict):
        raise Unreadable("file")


def to_inbound(
    conversation: str, key: str, payload: dict[str, Any], received_at: datetime
) -> Inbound:
    check(payload)
    kind = payload["kind"]
    fields: dict[str, Any] = {}
    text = str(payload.get("text") or "")
    if kind == "text":
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            command, _, args = stripped[1:].partition(" ")
            fields = {"kind": InboundKind.COMMAND, "command": command, "command_args": args}
        else:
            fields = {"kind": InboundKind.TEXT}
    elif kind == "button":
        fields = {"kind": InboundKind.BUTTON, "button_data": payload["data"]}
        text = str(payload.get("label") or "")
    elif kind == "contact":
        fields = {"kind": InboundKind.CONTACT, "phone": payload["phone"].strip()}
    else:
        file = payload["file"]
        fields = {
            "kind": InboundKind.ATTACHMENT,
            "attachments": (
                Attachment(
                    name=str(file["name"]),
                    mime=str(file["mime"]),
                    data=None,
                    size=int(file["size"]),
                    sha256=str(file["sha256"]),
                    path=str(file["path"]),
                ),
            ),
        }
    return Inbound(
        channel=CHANNEL,
        transport_id=key,
        conversation=conversation,
        sender_id=conversation,
        received_at=received_at,
        text=text,
        language_code=payload.get("lang") or None,
        message_id=str(payload.get("id") or ""),
        reply_to=payload.get("on") or None,
        consent=payload.get("consent") or None,
        raw=payload,
        **fields,
    )
