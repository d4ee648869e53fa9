"""One fetched mail → one `Inbound` for the bot.

The raw bytes travel along as an attachment (`message.eml`), so the bot stores the
original before anything else; a mail that cannot be parsed at all still arrives,
with its bytes and an empty text, and is filed for the record.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import replace
from datetime import datetime

from bot.messages import Attachment, ConversationStyle, Inbound, InboundKind
from channels.email import CHANNEL
from channels.email.mime import MailFile, ParsedMail, parse_mail
from channels.email.quotes import strip_quoted

log = logging.getLogger(__name__)

# Outlook sends replies without References, but its subjects say what they are.
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|sv|答复|回复|回覆|答覆)\s*[:：]", re.IGNORECASE)
RAW_NAME = "message.eml"
MAX_FILE = 20 * 1024 * 1024


def mail_to_inbound(
    raw: bytes,
    received_at: datetime,
    *,
    own_addresses: frozenset[str] = frozenset(),
    max_file: int = MAX_FILE,
    location: dict[str, str | int] | None = None,
    original: Attachment | None = None,
    mark_header: str = "",
) -> Inbound:
    """`location` (mailbox, UIDVALIDITY, UID) is kept with the message for the record.
    `original` is the mail as received when `raw` is not (the IMAP poller spools the
    original to disk and hands over the mail with its large parts left out or on disk,
    marked by `mark_header`)."""
    if original is None:
        digest = hashlib.sha256(raw).hexdigest()
        original = Attachment(RAW_NAME, "message/rfc822", raw, len(raw), sha256=digest)
    digest = original.sha256
    try:
        mail = parse_mail(raw, own_addresses, mark_header)
    except Exception as error:  # the standard library should not raise, but never lose mail
        # The error's text may quote the mail: only its kind at ERROR, the rest at DEBUG.
        log.error("mail %s could not be parsed (%s)", digest[:12], type(error).__name__)
        log.debug("mail %s could not be parsed", digest[:12], exc_info=True)
        return Inbound(
            channel=CHANNEL,
            transport_id=f"sha256:{digest}",
            conversation="unparsed",
            sender_id="unparsed",
            received_at=received_at,
            kind=InboundKind.UNSUPPORTED,
            style=ConversationStyle.LETTER,
            attachments=(original,),
            automated="unparseable",
            raw={"sha256": digest, "parse_error": repr(error), **(location or {})},
        )
    # PostgreSQL stores no NUL character in text; some broken clients send them.
    mail = replace(
        mail,
        text=_no_nul(mail.text),
        subject=_no_nul(mail.subject),
        from_name=_no_nul(mail.from_name),
        date=_no_nul(mail.date),
        message_id=_no_nul(mail.message_id) if mail.message_id else None,
    )
    files = tuple(_attachment(f, max_file) for f in mail.files)
    replying = bool(mail.in_reply_to or mail.references or _REPLY_SUBJECT.match(mail.subject))
    # A new mail keeps everything (a forwarded history is part of the complaint).
    text = strip_quoted(mail.text) if replying else mail.text
    sender = mail.from_address or "unknown"
    return Inbound(
        channel=CHANNEL,
        # The Message-ID names the mail wherever it is fetched from; a mail without one
        # is named by its bytes.
        transport_id=mail.message_id or f"sha256:{digest}",
        conversation=sender,
        sender_id=sender,
        sender_name=mail.from_name or sender.split("@")[0],
        received_at=received_at,
        kind=InboundKind.TEXT if text or not files else InboundKind.ATTACHMENT,
        style=ConversationStyle.LETTER,  # a mail is a whole complaint in one message
        text=text,
        message_id=mail.message_id,
        reply_to=mail.in_reply_to[0] if mail.in_reply_to else None,
        attachments=(original, *files),
        subject=mail.subject,
        references=_references(mail),
        automated=mail.automated,
        raw=_record(mail, digest, location),
    )


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")


def _attachment(file: MailFile, max_file: int) -> Attachment:
    if file.omitted is not None:  # never fetched: only its size is known
        return Attachment(file.name, file.mime, None, file.omitted)
    if file.on_disk is not None:  # fetched to disk: stored from there
        size, digest, path = file.on_disk
        if size > max_file:
            return Attachment(file.name, file.mime, None, size, sha256=digest)
        return Attachment(file.name, file.mime, None, size, sha256=digest, path=path)
    data = file.data
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > max_file:
        return Attachment(file.name, file.mime, None, len(data), sha256=digest)
    return Attachment(file.name, file.mime, data, len(data), sha256=digest)


def _size(file: MailFile) -> int:
    if file.omitted is not None:
        return file.omitted
    return file.on_disk[0] if file.on_disk is not None else len(file.data)


def _references(mail: ParsedMail) -> tuple[str, ...]:
    """Everything the mail refers to, the most direct first, without repeats."""
    ordered = [*mail.in_reply_to, *reversed(mail.references), *mail.bounced]
    return tuple(dict.fromkeys(ordered))


def _record(
    mail: ParsedMail, digest: str, location: dict[str, str | int] | None
) -> dict[str, object]:
    return {
        "sha256": digest,
        "message_id": mail.message_id,
        "from": mail.from_address,
        "from_name": mail.from_name,
        "reply_to": mail.reply_to,
        "to": list(mail.to),
        "subject": mail.subject,
        "date": mail.date,
        "in_reply_to": list(mail.in_reply_to),
        "references": list(mail.references),
        "automated": mail.automated,
        "bounced": list(mail.bounced),
        "full_text": mail.text,
        "files": [{"name": f.name, "mime": f.mime, "size": _size(f)} for f in mail.files],
        "defects": list(mail.defects),
        **(location or {}),
    }
