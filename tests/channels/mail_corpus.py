"""Test mails as they arrive on the wire, written byte by byte the way real clients do.

Each builder returns the raw RFC 5322 bytes. They cover the charsets a Chinese mailbox
sees (GB2312 labels on GBK text, Big5, ISO-2022-JP, UTF-8), RFC 2047 and RFC 2231
names, the reply styles of Outlook, Gmail, Apple Mail, Foxmail and QQ Mail, HTML-only
mail, attachments and inline images, broken MIME, auto-replies and bounces (DSN), and
hostile mail: header injection, senders without a domain, a third party's address in
the display name, no-reply senders, large attachments.
"""

from __future__ import annotations

import base64
import quopri

# The smallest valid PNG: one transparent pixel.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SUPPORT = "support@corp.example"


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def ew(text: str, charset: str, encoding: str = "B") -> str:
    """An RFC 2047 encoded word."""
    codec = "gb18030" if charset.lower() in ("gb2312", "gbk") else charset
    data = text.encode(codec)
    if encoding == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    return f"=?{charset}?Q?{quopri.encodestring(data, header=True).decode()}?="


def _headers(
    sender: str,
    subject: str,
    message_id: str,
    extra: str = "",
    in_reply_to: str | None = None,
    references: str | None = None,
) -> str:
    if not subject.isascii():
        subject = ew(subject, "UTF-8")
    lines = [
        f"From: {sender}",
        f"To: {SUPPORT}",
        f"Subject: {subject}",
        "Date: Sun, 22 Nov 2026 10:00:00 +0800",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    return "\r\n".join(lines) + ("\r\n" + extra.strip("\r\n") if extra else "")


def _bytes(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


# ----- new complaints -------------------------------------------------------------------

GBK_SUBJECT = "话费被多扣了，请退款（朱镕基路营业厅）"  # 镕 is GBK, not GB2312
GBK_BODY = (
    "您好：\n我的手机号 13812345678 本月被多扣了 30 元，营业厅在朱镕基路。\n截图见附件。\n王小明"
)


def gbk_complaint(
    message_id: str = "<gbk-1@mail.example.cn>",
    sender: str = "wang@example.cn",
    name: str = "王小明",
) -> bytes:
    """Foxmail-style: GB2312 labels on GBK text, a screenshot named in RFC 2047."""
    body = GBK_BODY.encode("gbk")
    head = _headers(
        f'"{ew(name, "GBK")}" <{sender}>',
        ew(GBK_SUBJECT, "GB2312"),
        message_id,
        'Content-Type: multipart/mixed; boundary="----=_NextPart_000_0001"\r\n'
        "X-Mailer: Foxmail 7.2",
    )
    return _bytes(
        f"""{head}

This is a multi-part message in MIME format.

------=_NextPart_000_0001
Content-Type: text/plain; charset="gb2312"
Content-Transfer-Encoding: base64

{b64(body)}
------=_NextPart_000_0001
Content-Type: image/png; name="{ew("截图.png", "GB2312")}"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="{ew("截图.png", "GB2312")}"

{b64(PNG)}
------=_NextPart_000_0001--
"""
    )


def _single_part(sender: str, subject: str, message_id: str, charset: str, body: bytes) -> bytes:
    """A one-part text mail in `charset`: quoted-printable, or 7bit for ISO-2022-JP."""
    seven_bit = charset.upper() == "ISO-2022-JP"
    encoding = "7bit" if seven_bit else "quoted-printable"
    head = _headers(
        sender,
        subject,
        message_id,
        f'Content-Type: text/plain; charset="{charset}"\r\nContent-Transfer-Encoding: {encoding}',
    )
    text = body.decode("ascii") if seven_bit else quopri.encodestring(body).decode()
    return _bytes(f"{head}\n\n{text}\n")


def big5_complaint(message_id: str = "<big5-1@mail.example.tw>", month: str = "") -> bytes:
    """`month` changes the text (and subject): a different complaint by the same person."""
    body = f"您好，我的帳單{month}被重複扣款，請協助退款。電話 0912345678。".encode("big5")
    sender = f"{ew('陳大文', 'big5')} <chan@example.tw>"
    return _single_part(sender, ew(f"帳單{month}重複扣款", "big5"), message_id, "big5", body)


def iso2022jp_complaint(message_id: str = "<jp-1@mail.example.jp>") -> bytes:
    body = "お世話になっております。請求額が間違っています。".encode("iso2022_jp")
    sender = f"{ew('山田太郎', 'ISO-2022-JP')} <yamada@example.jp>"
    return _single_part(sender, ew("請求の誤り", "ISO-2022-JP"), message_id, "ISO-2022-JP", body)


def utf8_rfc2231_complaint(message_id: str = "<utf8-1@gmail.example>") -> bytes:
    """Gmail-style multipart/alternative plus a PDF whose name is RFC 2231 (two parts)."""
    text = b"I was charged 30 yuan twice for my data plan. I want a refund."
    html = b'<div dir="ltr">I was charged 30 yuan twice for my data plan. I want a refund.</div>'
    name = "发票 2026年11月.pdf".encode()
    quoted = "".join(f"%{byte:02X}" for byte in name)
    half = len(quoted) // 2 - (len(quoted) // 2) % 3
    head = _headers(
        "Alice Smith <alice@gmail.example>",
        "Charged twice",
        message_id,
        'Content-Type: multipart/mixed; boundary="000000000000mixed"',
    )
    return _bytes(
        f"""{head}

--000000000000mixed
Content-Type: multipart/alternative; boundary="000000000000alt"

--000000000000alt
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: base64

{b64(text)}
--000000000000alt
Content-Type: text/html; charset="UTF-8"

{html.decode()}
--000000000000alt--
--000000000000mixed
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''{quoted[:half]};
 filename*1*={quoted[half:]}
Content-Transfer-Encoding: base64

{b64(b"%PDF-1.4 fake invoice")}
--000000000000mixed--
"""
    )


def gb2312_rfc2231_name(message_id: str = "<rfc2231-gb@example.cn>") -> bytes:
    name = "../../账单 明细.xlsx".encode("gb18030")
    quoted = "".join(f"%{byte:02X}" for byte in name)
    head = _headers(
        "li@example.cn",
        "bill",
        message_id,
        'Content-Type: multipart/mixed; boundary="b1"',
    )
    return _bytes(
        f"""{head}

--b1
Content-Type: text/plain; charset=gb2312
Content-Transfer-Encoding: base64

{b64("见附件".encode("gb2312"))}
--b1
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=gb2312''{quoted}
Content-Transfer-Encoding: base64

{b64(b"xlsx bytes")}
--b1--
"""
    )


def html_only(message_id: str = "<html-1@163.example>") -> bytes:
    html = (
        "<html><body><p>客服您好：</p><p>宽带<b>三天</b>无法上网，<br>报修没人理。</p>"
        "<table><tr><td>账号</td><td>BB1234</td></tr></table>"
        "<script>alert(1)</script></body></html>"
    ).encode("gbk")
    head = _headers(
        "zhao@163.example",
        ew("宽带无法上网", "GBK"),
        message_id,
        'Content-Type: text/html; charset="GBK"\r\nContent-Transfer-Encoding: base64',
    )
    return _bytes(f"{head}\n\n{b64(html)}")


def inline_image(message_id: str = "<inline-1@mac.example>") -> bytes:
    """Apple Mail: multipart/related with an image shown inline by Content-ID."""
    head = _headers(
        "Ming <ming@mac.example>",
        "screenshot inline",
        message_id,
        'Content-Type: multipart/related; boundary="Apple-Mail-1"; type="text/html"',
    )
    return _bytes(
        f"""{head}

--Apple-Mail-1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<html><body>See the error: <img src="cid:img1@mac"></body></html>
--Apple-Mail-1
Content-Type: image/png; name="Screen Shot.png"
Content-Disposition: inline; filename="Screen Shot.png"
Content-ID: <img1@mac>
Content-Transfer-Encoding: base64

{b64(PNG)}
--Apple-Mail-1--
"""
    )


def broken_mime(message_id: str = "<broken-1@example.cn>") -> bytes:
    """Declares a boundary that never comes, and a charset nobody knows."""
    head = _headers(
        "broken@example.cn",
        "=?x-unknown?B?bm90IHJlYWxseQ==?= " + ew("投诉", "GBK"),
        message_id,
        'Content-Type: multipart/mixed; boundary="never-there"',
    )
    body = "套餐被乱改了，请恢复。".encode("gbk")
    return head.encode("ascii") + b"\r\n\r\n" + body + b"\r\n"


def raw_8bit_headers(message_id: str = "<raw8-1@example.cn>") -> bytes:
    """An old client that puts GBK bytes straight into the headers."""
    head = (
        f"From: {'刘备'} <liu@example.cn>\r\nTo: {SUPPORT}\r\nSubject: 投诉：信号太差\r\n"
        f"Message-ID: {message_id}\r\nContent-Type: text/plain; charset=gbk\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("gbk")
    return head + "家里没有信号。".encode("gbk") + b"\r\n"


# ----- replies ------------------------------------------------------------------------------


def _plain_reply(
    sender: str,
    subject: str,
    message_id: str,
    text: str,
    in_reply_to: str | None,
    references: str | None,
    charset: str = "utf-8",
    extra: str = "",
) -> bytes:
    codec = "gb18030" if charset.lower() in ("gb2312", "gbk") else charset
    head = _headers(
        sender,
        subject,
        message_id,
        f'Content-Type: text/plain; charset="{charset}"\r\nContent-Transfer-Encoding: base64'
        + (f"\r\n{extra}" if extra else ""),
        in_reply_to,
        references,
    )
    return _bytes(f"{head}\n\n{b64(text.encode(codec))}")


# The quoted history each client puts under the answer.
_HISTORY = {
    "gmail": (
        f"\n\nOn Sun, Nov 22, 2026 at 10:05 AM Complaints <{SUPPORT}> wrote:\n\n"
        "> Your complaint has been accepted.\n> Case number: ...\n"
    ),
    "apple": (
        f"\n\n> 在 2026年11月22日，上午10:05，投诉受理 <{SUPPORT}> 写道：\n>\n> 您的投诉已受理。\n"
    ),
    "foxmail": (
        "\n\n------------------ Original ------------------\n"
        f'From:  "投诉受理"<{SUPPORT}>;\nDate:  Sun, Nov 22, 2026 10:05 AM\n\n您的投诉已受理。\n'
    ),
}


def _quoted_reply(style: str, answer: str, charset: str = "utf-8", **mail: str) -> bytes:
    return _plain_reply(
        mail["sender"],
        mail["subject"],
        mail["message_id"],
        answer + _HISTORY[style],
        mail["in_reply_to"],
        mail["references"],
        charset,
    )


def gmail_reply(answer: str, **mail: str) -> bytes:
    """Keyword arguments: sender, subject, in_reply_to, references, message_id."""
    return _quoted_reply("gmail", answer, **mail)


def apple_mail_reply(answer: str, **mail: str) -> bytes:
    return _quoted_reply("apple", answer, **mail)


def outlook_reply(
    answer: str,
    *,
    sender: str,
    subject: str,
    message_id: str,
    in_reply_to: str | None = None,
) -> bytes:
    """Outlook: no References, often no In-Reply-To either; history under a header block."""
    text = (
        f"{answer}\n\n________________________________\n发件人: 投诉受理 <{SUPPORT}>\n"
        "发送时间: 2026年11月22日 10:05\n收件人: user\n主题: 回复\n\n您的投诉已受理。\n"
    )
    return _plain_reply(
        sender,
        subject,
        message_id,
        text,
        in_reply_to,
        None,
        charset="gb2312",
        extra="Thread-Index: AdmAbCdEfGh==\r\nX-Mailer: Microsoft Outlook 16.0",
    )


def foxmail_reply(answer: str, **mail: str) -> bytes:
    return _quoted_reply("foxmail", answer, "gbk", **mail)


def qq_mail_reply(
    answer: str, *, sender: str, subject: str, in_reply_to: str, references: str, message_id: str
) -> bytes:
    """QQ Mail sends HTML only, with its "原始邮件" separator made of &nbsp;."""
    html = (
        f"<div>{answer}</div><div><br></div>"
        '<div style="font-size: 12px;">'
        "------------------&nbsp;原始邮件&nbsp;------------------</div>"
        f'<div><b>发件人:</b>&nbsp;"投诉受理"&lt;{SUPPORT}&gt;;</div>'
        "<div>您的投诉已受理。</div>"
    ).encode()
    head = _headers(
        sender,
        subject,
        message_id,
        'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64',
        in_reply_to,
        references,
    )
    return _bytes(f"{head}\n\n{b64(html)}")


# ----- robots -------------------------------------------------------------------------------


def out_of_office(
    *, sender: str, in_reply_to: str, subject: str = "自动回复: 您的投诉已受理", message_id: str
) -> bytes:
    return _plain_reply(
        sender,
        subject,
        message_id,
        "我正在休假，11月30日回来。",
        in_reply_to,
        in_reply_to,
        extra="Auto-Submitted: auto-replied\r\nX-Autoreply: yes",
    )


def outlook_automatic_reply(*, sender: str, message_id: str) -> bytes:
    """Outlook's out-of-office: no Auto-Submitted, only the subject and its own header."""
    return _plain_reply(
        sender,
        "Automatic reply: Your complaint",
        message_id,
        "I am out of the office until Monday.",
        None,
        None,
        extra="X-Auto-Response-Suppress: All",
    )


def mailing_list(message_id: str = "<list-1@lists.example>") -> bytes:
    return _plain_reply(
        "news@lists.example",
        "Weekly deals",
        message_id,
        "Buy now!",
        None,
        None,
        extra="List-Id: <deals.lists.example>\r\nPrecedence: bulk",
    )


def empty_return_path(message_id: str = "<rp-1@example.cn>") -> bytes:
    return b"Return-Path: <>\r\n" + _plain_reply(
        "robot@example.cn", "notice", message_id, "notice", None, None
    )


def bounce(*, original_id: str, recipient: str, message_id: str = "<dsn-1@mx.example>") -> bytes:
    """A delivery status notification (RFC 3464) for a mail we sent."""
    head = "Return-Path: <>\r\n" + _headers(
        "Mail Delivery System <MAILER-DAEMON@mx.example>",
        "Undelivered Mail Returned to Sender",
        message_id,
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\r\n'
        "Auto-Submitted: auto-replied",
    )
    return _bytes(
        f"""{head}

--dsn
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.
I'm sorry to have to inform you that your message could not be delivered.

<{recipient}>: host mx.example said: 550 5.1.1 User unknown

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1

--dsn
Content-Type: text/rfc822-headers

From: {SUPPORT}
To: {recipient}
Subject: [TS] receipt
Message-ID: {original_id}

--dsn--
"""
    )


# ----- hostile mail -------------------------------------------------------------------------


def plain(sender: str, message_id: str, subject: str = "Charged twice", body: str = "") -> bytes:
    """A plain English complaint from `sender`, the From value written as given."""
    text = body or "I was charged twice for my line in May. Please refund it."
    head = _headers(sender, subject, message_id, "Content-Type: text/plain; charset=utf-8")
    return _bytes(f"{head}\n\n{text}\n")


def injected_from(message_id: str = "<inject-1@evil.example>") -> bytes:
    """A bare CR in the display name, to smuggle a Bcc header in (and leave `mal`)."""
    head = _headers('"Mal\rBcc: victim@example.cn" <mal@evil.example>', "Refund", message_id)
    return head.encode("ascii") + b"\r\nContent-Type: text/plain\r\n\r\nPlease refund.\r\n"


def injected_subject(message_id: str = "<inject-2@evil.example>") -> bytes:
    """A NUL and a bare LF in a CRLF mail's subject, and an encoded CRLF in another."""
    head = _headers("Eve <eve@evil.example>", "Refund\x00now\nBcc: victim@example.cn", message_id)
    crlf = ew("Overcharged\r\nBcc: victim@example.cn", "UTF-8")
    return (
        head.encode("ascii")
        + f"\r\nKeywords: {crlf}\r\nContent-Type: text/plain\r\n\r\nPlease refund.\r\n".encode()
    )


def phishing_display_name(message_id: str = "<phish-1@ncs.gov.ng>") -> bytes:
    """From mail-parser's corpus: a third party's address only in the display name."""
    return plain("purchasing@aquillaindustries.com <do-not-reply@ncs.gov.ng>", message_id)


def attachment_bytes(size: int) -> bytes:
    """The bytes `with_attachment` attaches."""
    return bytes(range(256)) * (size // 256) + b"x" * (size % 256)


def with_attachment(
    size: int, message_id: str = "<big-1@example.cn>", name: str = "recording.mp3"
) -> bytes:
    """A complaint with one attachment of `size` bytes (base64, lines of 76)."""
    head = _headers(
        "Wang <wang@example.cn>",
        "Recording of the call",
        message_id,
        'Content-Type: multipart/mixed; boundary="b1"',
    )
    data = base64.encodebytes(attachment_bytes(size))
    return (
        _bytes(
            f"""{head}

--b1
Content-Type: text/plain; charset=utf-8

The agent was rude; the recording is attached.

--b1
Content-Type: audio/mpeg; name="{name}"
Content-Disposition: attachment; filename="{name}"
Content-Transfer-Encoding: base64

"""
        )
        + data.replace(b"\n", b"\r\n")
        + b"\r\n--b1--\r\n"
    )


def auto_responder_reply(
    *, sender: str, subject: str, in_reply_to: str, text: str, message_id: str
) -> bytes:
    """An auto-responder without robot headers answering our receipt with its one text."""
    return _plain_reply(sender, f"Re: {subject}", message_id, text, in_reply_to, None)
