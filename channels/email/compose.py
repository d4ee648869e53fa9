"""An `Outbound` → a MIME message: text and HTML, UTF-8, threaded, marked if automatic."""

from __future__ import annotations

import html
import uuid
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from bot.messages import Outbound

# References keep the thread's first message and the latest ones (RFC 5322 allows
# trimming the middle); very long headers upset some servers.
MAX_REFERENCES = 12
DEFAULT_SUBJECT = "complaintbot"


def mail_subject(outbound: Outbound) -> str:
    """The case number in brackets, then the subject of the mail that opened the case."""
    subject = " ".join((outbound.subject or "").split())
    if outbound.case_no:
        tag = f"[{outbound.case_no}]"
        subject = subject if tag in subject else f"{tag} {subject}".strip()
    subject = subject or DEFAULT_SUBJECT
    if outbound.references and not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    return subject


def compose(outbound: Outbound, mail_from: str, at: datetime) -> EmailMessage:
    """The message to send; its `Message-ID` is how replies find the case again."""
    display, address = parseaddr(mail_from)
    domain = address.rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = Address(display, addr_spec=address) if display else address
    message["To"] = outbound.conversation
    message["Subject"] = mail_subject(outbound)
    message["Date"] = format_datetime(at)
    # Short enough never to be folded onto a line of its own (make_msgid's can be).
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{domain}>"
    references = list(outbound.references)
    if references:
        if len(references) > MAX_REFERENCES:
            references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
        message["In-Reply-To"] = references[-1]
        message["References"] = " ".join(references)
    if outbound.automatic:
        # RFC 3834: robots must not answer this; Outlook's own flag says the same.
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(outbound.text, charset="utf-8")
    message.add_alternative(_html(outbound.text), subtype="html", charset="utf-8")
    for file in outbound.files:
        if file.data is None:
            continue
        maintype, _, subtype = (file.mime or "application/octet-stream").partition("/")
        message.add_attachment(
            file.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=file.name,
        )
    return message


def _html(text: str) -> str:
    paragraphs = "".join(
        f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>"
        for block in text.split("\n\n")
        if block.strip()
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="font-family: sans-serif; line-height: 1.5">'
        f"{paragraphs}</body></html>"
    )
