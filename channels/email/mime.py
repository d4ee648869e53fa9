"""RFC 5322 bytes → a `ParsedMail`: decoded headers, readable text, attachments, robot signs.

Built on the standard library's modern email API (`policy.default`). Chinese mail is
full of mislabelled charsets, so every decode goes through `decode_bytes`, which reads
GB2312 and GBK as GB18030 (their superset), Big5 as Big5-HKSCS and falls back from a
wrong label instead of losing the text. Nothing here raises on bad input: a broken
message still yields whatever could be read, and its defects.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field, replace
from email import message_from_string, policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import html2text

# Labels mail clients use for charsets that a superset reads correctly.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "iso-2022-jp": "iso2022_jp_2",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
}
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
MAX_FILE_NAME = 120
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of `data` in its declared charset, read generously; never raises."""
    label = (charset or "").strip().strip('"').lower()
    tried: list[str] = []
    if label:
        name = _SUPERSETS.get(label, label)
        try:
            # Not rot13, base64, zlib...: codecs, but no charsets.
            if getattr(codecs.lookup(name), "_is_text_encoding", True):
                tried.append(name)
        except LookupError:
            pass
    for fallback in ("utf-8", "gb18030"):
        if fallback not in tried:
            tried.append(fallback)
    for name in tried:
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):  # punycode raises plain UnicodeError
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_value(raw: str) -> str:
    """An RFC 2047 header (or raw 8-bit bytes a client put in one) as text, on one line
    and without control characters."""
    return clean_header_text(_decoded_header(raw))


def _decoded_header(raw: str) -> str:
    if "=?" not in raw and raw.isascii():
        return " ".join(raw.split())
    # BytesParser keeps undecodable header bytes as surrogates: get the bytes back.
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        return " ".join(decode_bytes(raw.encode("utf-8", "surrogateescape"), None).split())
    try:
        pieces = decode_header(raw)
    except Exception:
        return " ".join(raw.split())
    text = []
    for value, charset in pieces:
        if isinstance(value, bytes):
            text.append(decode_bytes(value, charset))
        else:
            text.append(value)
    return " ".join("".join(text).split())


@dataclass(frozen=True, slots=True)
class MailFile:
    name: str
    mime: str
    data: bytes
    inline: bool = False
    # Not fetched (over the attachment limit): its size; `data` is empty.
    omitted: int | None = None
    # Fetched to disk, decoded: (size, sha256, path); `data` is empty.
    on_disk: tuple[int, str, str] | None = None


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """What a mail says, decoded. `text` is the whole body as readable text."""

    message_id: str | None
    subject: str
    from_name: str
    from_address: str
    to: tuple[str, ...]
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: str
    text: str
    files: tuple[MailFile, ...]
    automated: str | None
    # For a delivery report: the Message-IDs of the mail that could not be delivered.
    bounced: tuple[str, ...] = ()
    defects: tuple[str, ...] = field(default_factory=tuple)
    # Recorded only: answers go to `from_address` (see the README's Email section).
    reply_to: str = ""


def parse_mail(
    raw: bytes, own_addresses: frozenset[str] = frozenset(), mark_header: str = ""
) -> ParsedMail:
    """`mark_header` names the header the fetcher puts on a part it left out or wrote to
    disk (see `channels.email.fetching`): a file not received, of the size it says, or
    one on disk."""
    raw, injected = clean_header_block(raw)
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    headers = _RawHeaders(message)
    from_name, from_address = sender_of(headers.get("From"))
    body, files, bounced = _contents(message, mark_header)
    defects = {type(d).__name__ for part in message.walk() for d in part.defects}
    parsed = ParsedMail(
        message_id=_first_id(headers.get("Message-ID")),
        subject=decode_header_value(headers.get("Subject")),
        from_name=from_name,
        from_address=from_address,
        reply_to=sender_of(headers.get("Reply-To"))[1],
        to=tuple(a.lower() for _n, a in getaddresses([headers.get("To")]) if a),
        in_reply_to=tuple(_MESSAGE_ID.findall(headers.get("In-Reply-To"))),
        references=tuple(_MESSAGE_ID.findall(headers.get("References"))),
        date=headers.get("Date"),
        text=body,
        files=tuple(files),
        automated=None,
        bounced=tuple(bounced),
        defects=tuple(sorted(defects | ({"HeaderControlCharacters"} if injected else set()))),
    )
    reason = automated_reason(message, headers, parsed, own_addresses)
    # Enclosed messages name what bounced only in a delivery report (not in a forward).
    return replace(parsed, automated=reason, bounced=parsed.bounced if reason == "bounce" else ())


# ----- headers -----------------------------------------------------------------------

# A CR not followed by LF, or a NUL: inside a header section both only ever serve to
# smuggle a second header into a value (`"Mal\rBcc: …" <mal@…>`), so they become a space
# before the parser sees the headers. A line ending in the mail's own style stays one.
_BARE_CR = re.compile(rb"\r(?!\n)")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def clean_header_block(raw: bytes) -> tuple[bytes, bool]:
    """`raw` with the bare CRs and NULs of its top header section made spaces (and, in a
    mail whose lines end in CRLF, bare LFs too); True when there were any."""
    end = _HEADER_END.search(raw)
    cut = end.start() if end else len(raw)
    head = raw[:cut]
    cleaned = _BARE_CR.sub(b" ", head).replace(b"\x00", b" ")
    crlf = cleaned.count(b"\r\n")
    if crlf and crlf >= cleaned.count(b"\n") - crlf:
        # CRLF is the line ending here (most lines end so), so a lone LF is smuggled.
        cleaned = re.sub(rb"(?<!\r)\n", b" ", cleaned)
    if cleaned == head:
        return raw, False
    return cleaned + raw[cut:], True


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_header_text(value: str) -> str:
    """A decoded header value on one line: an encoded word can still hide a CR, LF or
    NUL (`=?utf-8?b?...?=`), which must never reach a stored field or an outgoing header."""
    return " ".join(_CONTROL.sub(" ", value).split())


# The address is the last `<...>` of the value; a display name is only a name, even
# when it looks like an address (`purchasing@example.com <do-not-reply@example.net>`).
_ANGLE_ADDRESS = re.compile(r"<([^<>]*)>\s*$")
_COMMENT = re.compile(r"\([^()]*\)")


def sender_of(value: str) -> tuple[str, str]:
    """(display name, address) of a From value, the address lowercased. The address is
    the one in angle brackets, never text from the display name; without brackets it is
    the value itself (`user@example.com (Comment)`, the first of `a@x, b@y`), never an
    address the parser pieced together from other words (what a header smuggled into
    From by a bare CR leaves): otherwise there is none."""
    value = clean_header_text(value)
    angle = _ANGLE_ADDRESS.search(value)
    if angle:
        name = value[: angle.start()].strip()
        name = name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name
        address = angle.group(1).strip()
    else:
        name, address = parseaddr(value)
        if not address:
            name, address = next(iter(getaddresses([value])), ("", ""))
        written = _COMMENT.sub("", value.split(",")[0]).strip()
        if not address or written.lower() != address.lower():
            name, address = "", ""
    if any(ch.isspace() for ch in address):
        address = ""  # `"a b"@example.com`: no mail is sent to such an address
    name = clean_header_text(decode_header_value(name)) if name else ""
    return name, address.lower()


class _RawHeaders:
    """Header values as they are on the wire (folded lines joined), so that our own
    charset rules, not the parser's, decode them."""

    def __init__(self, message: Message) -> None:
        self._values: dict[str, str] = {}
        for name, value in message.raw_items():
            self._values.setdefault(name.lower(), str(value))

    def get(self, name: str) -> str:
        value = re.sub(r"\r?\n[ \t]+", " ", self._values.get(name.lower(), "")).strip()
        if any("\udc80" <= ch <= "\udcff" for ch in value):
            # Raw 8-bit bytes (the parser keeps them as lone surrogates, which no database
            # stores): read as a mail client would, UTF-8 or else GB18030.
            value = decode_bytes(value.encode("utf-8", "surrogateescape"), None)
        return value

    def has(self, name: str) -> bool:
        return name.lower() in self._values


def _first_id(value: str) -> str | None:
    found = _MESSAGE_ID.findall(value)
    if found:
        return found[0]
    value = value.strip()
    return f"<{value}>" if value and " " not in value else None


# ----- robots --------------------------------------------------------------------------

# Only the prefixes robots put before a colon: "Undeliverable parcel" is a complaint.
_AUTO_SUBJECTS = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response)|out of (the )?office|自动回复|自動回覆|自动答复|"
    r"undeliverable|delivery status notification( \(failure\))?|returned mail|系统退信)\s*[:：]",
    re.IGNORECASE,
)


# noreply, no-reply, no_reply, donotreply, do-not-reply, do_not_reply (+tag or -suffix).
_NO_REPLY = re.compile(r"^(no|do[-_.]?not)[-_.]?reply(?![a-z0-9])", re.IGNORECASE)


def automated_reason(
    message: Message, headers: _RawHeaders, parsed: ParsedMail, own_addresses: frozenset[str]
) -> str | None:
    """Why this mail comes from a robot (and must never be answered), or None."""
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type", "") or "").lower()
    sender = parsed.from_address
    local = sender.split("@")[0]
    if content_type == "multipart/report" and report_type == "delivery-status":
        return "bounce"
    if parsed.bounced and local in ("mailer-daemon", "postmaster"):
        return "bounce"
    auto_submitted = headers.get("Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return f"auto-submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponse"):
        if headers.has(name):
            return name.lower()
    precedence = headers.get("Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence: {precedence}"
    if headers.has("List-Id"):
        return "list-id"
    if headers.has("Return-Path") and headers.get("Return-Path").replace(" ", "") in ("<>", ""):
        return "empty return-path"
    if local in ("mailer-daemon", "postmaster"):
        return f"sender {local}"
    if _NO_REPLY.match(local):
        return "no-reply sender"
    if not sender:
        return "no sender"
    if sender in own_addresses:
        return "our own address"
    if _AUTO_SUBJECTS.match(parsed.subject):
        return "automatic subject"
    return None


# ----- body and files --------------------------------------------------------------------


def _contents(
    message: EmailMessage, mark_header: str = ""
) -> tuple[str, list[MailFile], list[str]]:
    if _unsplit(message):
        return _part_text(message).strip(), [], []
    plain = _safe_body(message, ("plain",))
    html = _safe_body(message, ("html",))
    if plain is not None:
        text = _part_text(plain)
    elif html is not None:
        text = html_to_text(_part_text(html))
    else:
        text = ""
    body_parts = {id(p) for p in (plain, html) if p is not None}
    files: list[MailFile] = []
    bounced: list[str] = []
    _collect(message, body_parts, files, bounced, [], mark_header)
    if not text and not message.is_multipart() and message.get_content_maintype() == "text":
        text = _part_text(message)
    return text.strip(), files, bounced


def _unsplit(message: EmailMessage) -> bool:
    """A multipart whose boundary never comes: the parser leaves it one string."""
    return message.get_content_maintype() == "multipart" and isinstance(_held(message), str)


def _safe_body(message: EmailMessage, preference: tuple[str, ...]) -> EmailMessage | None:
    try:
        part = message.get_body(preferencelist=preference)
    except Exception:
        return None
    if part is None or part.is_attachment():
        return None
    return part  # type: ignore[return-value]


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = _raw_payload(part).encode("utf-8", "surrogateescape")
    return decode_bytes(payload, part.get_content_charset()).replace("\r\n", "\n")


def _held(part: Message) -> object:
    """The payload as the parser holds it. `get_payload()` decodes 8-bit text with the
    declared charset first, which raises for a codec such as punycode."""
    return getattr(part, "_payload", None)


def _raw_payload(part: Message) -> str:
    payload = _held(part)
    return payload if isinstance(payload, str) else ""


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    try:
        text = converter.handle(html)
    except Exception:
        text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _collect(
    part: Message,
    body_parts: set[int],
    files: list[MailFile],
    bounced: list[str],
    seen: list[int],
    mark_header: str = "",
) -> None:
    if id(part) in seen:
        return
    seen.append(id(part))
    content_type = part.get_content_type()
    marked = _marked_file(part, mark_header, len(files)) if mark_header else None
    if marked is not None:
        files.append(marked)
        return
    if content_type in ("message/rfc822", "message/global", "text/rfc822-headers"):
        inner = _inner_headers(part)
        bounced.extend(_MESSAGE_ID.findall(str(inner.get("Message-ID", "") or "")))
        if content_type != "text/rfc822-headers":
            files.append(
                MailFile(
                    _file_name(part, len(files), "message/rfc822"),
                    content_type,
                    _enclosed_bytes(part),
                )
            )
        return
    if part.is_multipart():
        for child in part.get_payload():  # type: ignore[union-attr]
            if isinstance(child, Message):
                _collect(child, body_parts, files, bounced, seen, mark_header)
        return
    if id(part) in body_parts:
        return
    if content_type == "message/delivery-status":
        return
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = b""
    disposition = (part.get_content_disposition() or "").lower()
    named = _raw_file_name(part) is not None
    if part.get_content_maintype() == "text" and not named and disposition != "attachment":
        return  # an alternative body (for example a calendar's text); the body has it
    files.append(
        MailFile(
            name=_file_name(part, len(files), content_type),
            mime=content_type,
            data=data,
            inline=disposition == "inline" or part.get("Content-ID") is not None,
        )
    )


def _marked_file(part: Message, mark_header: str, position: int) -> MailFile | None:
    """The file the fetcher's mark stands for: `SIZE` (left out) or `file SIZE SHA256
    PATH` (on disk); None for a part without the mark."""
    mark = next((str(v) for k, v in part.raw_items() if k.lower() == mark_header.lower()), "")
    if not mark:
        return None
    content_type = part.get_content_type()
    name = _file_name(part, position, content_type)
    disposition = (part.get_content_disposition() or "").lower()
    inline = disposition == "inline" or part.get("Content-ID") is not None
    kind, _sep, rest = mark.strip().partition(" ")
    if kind.isdigit():
        return MailFile(name, content_type, b"", inline, omitted=int(kind))
    size, digest, path = rest.split(" ", 2)
    return MailFile(name, content_type, b"", inline, on_disk=(int(size), digest, path))


def _enclosed_bytes(part: Message) -> bytes:
    """The enclosed message's own bytes, without the wrapping part's headers."""
    payload = _held(part)
    try:
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return bytes(payload[0].as_bytes(policy=policy.SMTP))
        return str(payload).encode("utf-8", "surrogateescape")
    except Exception:
        return b""


def _inner_headers(part: Message) -> Message:
    payload = _held(part)
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    text = _part_text(part) if isinstance(payload, str) else ""
    return message_from_string(text)


def _raw_file_name(part: Message) -> str | None:
    """The file name from Content-Disposition or Content-Type, RFC 2231 and 2047 decoded."""
    for header, param in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        raw = next((str(v) for k, v in part.raw_items() if k.lower() == header.lower()), None)
        if raw is None:
            continue
        # A compat32 `Message` hands back RFC 2231 values undecoded: (charset, lang, text).
        legacy = Message()
        legacy[header] = raw
        value = legacy.get_param(param, header=header)
        if value is None or value == "":
            continue
        if isinstance(value, tuple):
            charset, _lang, text = value
            return decode_bytes(str(text).encode("latin-1", "replace"), charset)
        return decode_header_value(str(value).strip('"'))
    return None


def safe_file_name(name: str, position: int, mime: str) -> str:
    """A name that is safe on any disk and readable: no paths, no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" ._")
    if not name:
        return f"attachment-{position + 1}{_EXTENSIONS.get(mime, '.bin')}"
    if len(name) > MAX_FILE_NAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_FILE_NAME - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILE_NAME]
    return name


def _file_name(part: Message, position: int, mime: str) -> str:
    return safe_file_name(_raw_file_name(part) or "", position, mime)
