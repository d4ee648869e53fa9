"""The new part of a reply: what the sender wrote above the quoted history.

Mail clients mark the history differently: `>` lines under an "On … wrote:" line
(Gmail, Apple Mail, Thunderbird; in Chinese "在 … 写道："), a "-----Original
Message-----" line or a "From: … Sent: …" block (Outlook, in Chinese "发件人："),
a "------------------ 原始邮件 ------------------" line (Foxmail, QQ Mail). The text is
cut at the first such marker; the full text stays in the stored message.
"""

from __future__ import annotations

import re

_MARKERS = [
    # Outlook, Foxmail, QQ Mail and friends: a separator line.
    # (HTML turned into text escapes a leading "-" as "\\-".)
    re.compile(
        r"^[\s\\]*-{2,}\s*(original message|原始邮件|原始郵件|forwarded message|转发邮件)"
        r"\s*\\?-{2,}\s*$",
        re.I,
    ),
    re.compile(r"^[\s\\]*-{5,}\s*(original|原始)\s*\\?-{5,}\s*$", re.I),
    re.compile(r"^\s*_{20,}\s*$"),
    # Gmail / Apple Mail / Thunderbird attribution lines, English and Chinese.
    re.compile(r"^\s*On .{4,200}(wrote|writes)\s*:\s*$", re.I),
    re.compile(r"^\s*(在|于|於).{2,200}(写道|寫道)\s*[:：]\s*$"),
    re.compile(r"^.{2,200}于.{2,100}(写道|寫道)\s*[:：]\s*$"),
    # Outlook's header block without a separator ("From: … / Sent: …").
    re.compile(r"^\s*\**\s*(from|发件人|寄件者)\s*\**\s*[:：]", re.I),
]
# A header-block marker only counts when a "Sent:"/"Date:" line follows closely.
_HEADER_BLOCK_NEXT = re.compile(
    r"^\s*\**\s*(sent|date|发送时间|日期|時間|寄件日期)\s*\**\s*[:：]", re.I
)


def strip_quoted(text: str) -> str:
    """`text` without the quoted history; the whole text when nothing new is left."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = len(lines)
    for position, line in enumerate(lines):
        if line.lstrip().startswith(">") and _quote_block_follows(lines, position):
            cut = position
            break
        if any(marker.match(line) for marker in _MARKERS[:-1]):
            cut = position
            break
        if _MARKERS[-1].match(line) and any(
            _HEADER_BLOCK_NEXT.match(following) for following in lines[position + 1 : position + 4]
        ):
            cut = position
            break
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    new = "\n".join(kept).strip()
    return new if new else _without_quote_lines(text)


def _quote_block_follows(lines: list[str], position: int) -> bool:
    """Only a quote that runs to the end (after blanks and other quotes) is history;
    an inline quote followed by an answer is part of the answer."""
    rest = [line for line in lines[position:] if line.strip()]
    return all(line.lstrip().startswith(">") for line in rest)


def _without_quote_lines(text: str) -> str:
    kept = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip() or text.strip()
