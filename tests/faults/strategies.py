"""Hostile input for the fuzz suite: texts, Telegram updates (as the Bot API's JSON) and
mails (as the bytes an IMAP server hands over).

Everything here is plain data built by Hypothesis strategies; the tests decide what
goes through which part of the product. Each update and mail says whether it was built
broken on purpose (`Action.broken`), so that a test can tell "refused, as it should
be" from "refused, although it is well-formed".
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from bot.desk import AGENT_COMMANDS

# ----- texts ---------------------------------------------------------------------------

# Pieces people (and attackers) put into messages: control and zero-width characters,
# direction marks, markup of every kind, format strings, emoji sequences, scripts.
HOSTILE_PIECES = [
    "\x00", "\x01", "\x07", "\x08", "\x1b[31m", "\x7f", "\x85", "\r", "\n", "\r\n", "\t",
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f",
    "\u202e", "\u202d", "\u202a", "\u2066", "\u2069", "\u200f", "\u200e", "\u061c",
    "\u2028", "\u2029", "\u3000", "\xa0",
    "<b>", "</b>", "<i>", "<a href=\"javascript:alert(1)\">x</a>", "<script>", "&amp;",
    "&lt;", "&#0;", "&", "<", ">", "<tg-spoiler>", "<pre><code>",
    "*", "_", "`", "```", "~", "||", "[x](http://evil.example)", "\\", "#", "!",
    "%s", "%n", "{0}", "{}", "{{ x }}", "${jndi:ldap://x}", "'; DROP TABLE cases;--",
    "../../etc/passwd", "..\\..\\windows", "/", ".", "..", "~",
    "😀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "\U0001f1e8\U0001f1f3", "\U00010348", "\U0010fffd",
    "中文投诉", "繁體", "عربي", "עברית", "हिन्दी", "ﷺ", "Z̴̢͈a̷l̸g̵o̶",
    "/start", "/cancel", "@bot", "TS-20260101-0001", "+8613812345678", "a@b.c",
]


def hostile_text(max_pieces: int = 10, min_pieces: int = 0) -> st.SearchStrategy[str]:
    """Short text from hostile pieces and arbitrary Unicode."""
    piece = st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(min_size=1, max_size=12))
    return st.lists(piece, min_size=min_pieces, max_size=max_pieces).map("".join)


def huge_text() -> st.SearchStrategy[str]:
    """Texts around Telegram's 4096-character limit and well over it."""
    return st.builds(
        lambda piece, length: (piece * (length // max(len(piece), 1) + 1))[:length],
        st.sampled_from(["a", "中", "😀", "ab\n", "\u200b", " ", "\n", "<b>", "x" * 99 + "\n"]),
        st.sampled_from([4095, 4096, 4097, 5000, 8193, 20000]),
    )


def any_text(min_pieces: int = 0) -> st.SearchStrategy[str]:
    short = hostile_text(min_pieces=min_pieces)
    return st.one_of(short, short, short, huge_text())


# ----- Telegram updates ----------------------------------------------------------------

# Who talks to the bot: two people in private chats and two agents in their group.
PEOPLE = (1001, 1002)
AGENTS = (501, 502)
AGENT_GROUP = -1001234567890
BOT_ID = 999


@dataclass(frozen=True)
class Action:
    """One thing that happens on Telegram. `update` lacks its `update_id` (the test numbers
    them); a `press` is resolved by the test against the buttons of the last message the
    bot really sent to the chat (the one labelled `label`, else the `press`-th).
    In a group message, the test puts the latest case number for `TS-CASE` and the
    latest topic for thread id -1."""

    update: dict[str, Any]
    chat: int
    broken: bool = False
    press: int | None = None
    label: str | None = None
    # Telegram sends an earlier update again (the `again`-th last): nothing may change.
    again: int | None = None
    # Time passes (hours) and the timers due act: reminders, deadlines, surveys.
    later: int | None = None


def _user(draw: st.DrawFn, user_id: int) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": draw(st.one_of(st.just("Li"), hostile_text(4))),
    }
    if draw(st.booleans()):
        user["last_name"] = draw(hostile_text(3))
    if draw(st.booleans()):
        user["username"] = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{4,31}", fullmatch=True))
    language = draw(
        st.one_of(
            st.sampled_from([None, "en", "zh-hans", "zh", "zh-TW", "ar", "fa", "", "xx-YY"]),
            hostile_text(2),
        )
    )
    if language is not None:
        user["language_code"] = language
    return user


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id == AGENT_GROUP:
        return {"id": chat_id, "type": "supergroup", "title": "Desk", "is_forum": True}
    return {"id": chat_id, "type": "private", "first_name": "Li"}


def _file_name() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "../../etc/passwd", "..\\..\\boot.ini", "/etc/shadow", "C:\\Windows\\x.exe",
                "..", ".", "", " ", "a\x00b.pdf", "con", "report\u202egnp.exe", "a\nb.jpg",
                "x" * 300 + ".pdf", "文件.pdf", "%2e%2e%2fsecret", "file:///etc/passwd",
            ]
        ),
        hostile_text(4),
    )


def _media(draw: st.DrawFn, message_id: int) -> dict[str, Any]:
    size = draw(st.sampled_from([0, 1, 5000, 20 * 1024 * 1024, 20 * 1024 * 1024 + 1, 2**31]))
    file = {"file_id": f"f{message_id}", "file_unique_id": f"u{message_id}", "file_size": size}
    kind = draw(st.sampled_from(["document", "photo", "video", "audio"]))
    if kind == "photo":
        return {"photo": [{**file, "width": 90, "height": 90}]}
    media: dict[str, Any] = dict(file)
    if kind in ("video", "audio"):
        media["duration"] = 3
        if kind == "video":
            media.update(width=1, height=1)
    if draw(st.booleans()):
        media["file_name"] = draw(_file_name())
    if draw(st.booleans()):
        mimes = st.sampled_from(["application/pdf", "image/png", "../x", ""])
        media["mime_type"] = draw(st.one_of(mimes, hostile_text(2)))
    return {kind: media}


_UNSUPPORTED = {
    "sticker": {
        "file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
        "is_animated": False, "is_video": False, "type": "regular",
    },
    "location": {"latitude": 31.2, "longitude": 121.5},
    "dice": {"emoji": "🎲", "value": 3},
    "venue": {"location": {"latitude": 0, "longitude": 0}, "title": "x", "address": ""},
    "voice": {"file_id": "v", "file_unique_id": "v", "duration": 1},
}

_COMMANDS = ["start", "help", "new", "cancel", "status", "language", "START", "nonexistent"]
# Callback data in the bot's own shapes (see bot/questions.py, bot/desk/closing.py,
# bot/followup/surveys.py, bot/staff.py), pointed at nothing or at garbage.
_DATA_SHAPES = [
    "desc:done", "ev:done", "confirm", "edit", "cancel", "cat:", "cat:nonsense", "edit:",
    "edit:back", "edit:nonsense", "lang:", "lang:xx", "desk:claim:", "desk:claim:TS-1",
    "res:TS-20260101-0001:x:y", "res:", "rate:", "rate:TS-20260101-0001:9", "rate:x:y:z",
    "rate:TS-20260101-0001:-1", ":", "::::", "",
]


@st.composite
def _private_message(draw: st.DrawFn, chat: int, message_id: int) -> tuple[dict[str, Any], str]:
    what = draw(
        st.sampled_from(["text", "text", "command", "caption", "media", "contact", "unsupported"])
    )
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 1767225600 + message_id,
        "chat": _chat(chat),
        "from": _user(draw, chat),
    }
    if what == "text":
        message["text"] = draw(any_text(min_pieces=1))
    elif what == "command":
        bot_name = draw(st.sampled_from(["", "@complaintbot", "@other_bot"]))
        args = draw(st.one_of(st.just(""), hostile_text(4).map(lambda t: " " + t)))
        message["text"] = f"/{draw(st.sampled_from(_COMMANDS))}{bot_name}{args}"
    elif what == "caption":
        message["caption"] = draw(any_text())
    elif what == "media":
        message.update(_media(draw, message_id))
        if draw(st.booleans()):
            message["caption"] = draw(any_text())
    elif what == "contact":
        phone = st.sampled_from(["+8613812345678", "13812345678", "", "+", "0" * 40])
        message["contact"] = {
            "phone_number": draw(st.one_of(phone, hostile_text(3))),
            "first_name": "Li",
            "user_id": draw(st.sampled_from([chat, 424242])),
        }
    else:
        name = draw(st.sampled_from(sorted(_UNSUPPORTED)))
        message[name] = _UNSUPPORTED[name]
    return message, what


@st.composite
def _group_message(draw: st.DrawFn, message_id: int) -> dict[str, Any]:
    agent = draw(st.sampled_from(AGENTS))
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 1767225600 + message_id,
        "chat": _chat(AGENT_GROUP),
        "from": _user(draw, agent),
    }
    if draw(st.booleans()):
        message["message_thread_id"] = draw(st.sampled_from([-1, -1, 1, 50]))
        message["is_topic_message"] = True
    if draw(st.booleans()):
        message["reply_to_message"] = {
            "message_id": draw(st.integers(1, 50)),
            "date": 1767225600,
            "chat": _chat(AGENT_GROUP),
        }
    command = draw(st.sampled_from(sorted(AGENT_COMMANDS)))
    case_no = draw(st.sampled_from(["", " TS-CASE", " TS-CASE", " TS-99999999-9999", " x"]))
    text = draw(
        st.one_of(
            st.builds(lambda a: f"/{command}{case_no} {a}".rstrip(), hostile_text(4)),
            any_text(min_pieces=1),
        )
    )
    message["text"] = text
    return message


@st.composite
def _callback(draw: st.DrawFn, chat: int, message_id: int) -> dict[str, Any]:
    query: dict[str, Any] = {
        "id": f"q{message_id}",
        "from": _user(draw, chat if chat != AGENT_GROUP else draw(st.sampled_from(AGENTS))),
        "chat_instance": "ci",
    }
    data = draw(
        st.one_of(
            st.sampled_from(_DATA_SHAPES),
            st.builds(lambda a, b: a + b, st.sampled_from(_DATA_SHAPES), hostile_text(3)),
            st.text(max_size=64),
            st.none(),
        )
    )
    if data is not None:
        query["data"] = data
    where = draw(st.sampled_from(["message", "message", "inaccessible", "inline"]))
    if where == "message":
        query["message"] = {
            "message_id": draw(st.integers(1, 10**6)),
            "date": 1767225600,
            "chat": _chat(chat),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot"},
            "text": "?",
        }
    elif where == "inaccessible":
        query["message"] = {"message_id": 1, "date": 0, "chat": _chat(chat)}
    else:
        query["inline_message_id"] = "im"
    return {"callback_query": query}


@st.composite
def _broken(draw: st.DrawFn, chat: int, message_id: int) -> dict[str, Any]:
    """An update missing fields the Bot API always sends (python-telegram-bot may refuse it)."""
    message, _what = draw(_private_message(chat, message_id))
    kind = draw(st.sampled_from(["drop", "poll", "types"]))
    if kind == "drop":
        del message[draw(st.sampled_from(["chat", "date", "message_id", "from"]))]
    elif kind == "poll":
        message["poll"] = {"id": "p"}  # the update that stopped all intake
    else:
        message["chat"] = {"id": str(chat), "type": 7}
        message["date"] = "yesterday"
    return {draw(st.sampled_from(["message", "edited_message"])): message}


@st.composite
def telegram_action(draw: st.DrawFn, message_id: int) -> Action:
    """One update of any kind: messages, edits, presses, group traffic, the unknown, the broken."""
    chat = draw(st.sampled_from(PEOPLE))
    what = draw(
        st.sampled_from(
            ["message"] * 5 + ["press"] * 4
            + ["edit", "callback", "group", "group", "unknown", "bot", "broken", "again", "later"]
        )
    )
    if what == "message":
        return Action({"message": draw(_private_message(chat, message_id))[0]}, chat)
    if what == "press":
        # An agent presses the group's buttons now and then (claim, resolution).
        where = draw(st.sampled_from([chat, chat, chat, AGENT_GROUP]))
        return Action({}, where, press=draw(st.integers(0, 20)))
    if what == "again":
        return Action({}, chat, again=draw(st.integers(1, 5)))
    if what == "later":
        return Action({}, chat, later=draw(st.sampled_from([1, 5, 25, 73, 200])))
    if what == "edit":
        message, _what = draw(_private_message(chat, draw(st.integers(1, message_id + 5))))
        message["edit_date"] = 1767225600 + message_id + 1
        return Action({"edited_message": message}, chat)
    if what == "callback":
        where = draw(st.sampled_from([chat, AGENT_GROUP]))
        return Action(draw(_callback(where, message_id)), where)
    if what == "group":
        return Action({"message": draw(_group_message(message_id))}, AGENT_GROUP)
    if what == "unknown":
        # A kind of update from a newer Bot API decodes (its body kept aside); a known
        # kind with a body of garbage may be refused.
        name = draw(
            st.sampled_from(
                ["frobnicate", "future_update", "message_reaction", "chat_boost",
                 "business_message", "poll_answer", "my_chat_member"]
            )
        )
        body = draw(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
        return Action({name: body}, chat, broken=name not in ("frobnicate", "future_update"))
    if what == "bot":
        message, _what = draw(_private_message(chat, message_id))
        message["from"] = {"id": BOT_ID, "is_bot": True, "first_name": "Bot"}
        return Action({"message": message}, chat)
    return Action(draw(_broken(chat, message_id)), chat, broken=True)


def _said(chat: int, message_id: int, text: str) -> Action:
    sender = {"id": chat, "is_bot": False, "first_name": "Li", "language_code": "en"}
    message = {"message_id": message_id, "date": 1767225600 + message_id, "chat": _chat(chat)}
    return Action({"message": {**message, "from": sender, "text": text}}, chat)


def _after(word: str, text: str) -> str:
    return f"{word} {text}"


@st.composite
def _intake(draw: st.DrawFn, chat: int) -> list[Action]:
    """A whole complaint in English with hostile answers, as far as the receipt."""
    # Words first, so that most answers count as answers; the rest is hostile.
    said = [
        draw(st.one_of(any_text(), *[st.builds(_after, st.just(word), hostile_text(6))] * 3))
        for word in ("Charged twice", "Li", "a@example.com", "Telecom", "A refund")
    ]
    return [
        _said(chat, 1, "/start"),
        _said(chat, 2, said[0]),
        Action({}, chat, press=0, label="Continue"),
        _said(chat, 3, said[1][:80]),
        _said(chat, 4, draw(st.sampled_from(["13812345678", "13812345678", said[2]]))),
        Action({}, chat, press=0),  # the category the bot suggests
        _said(chat, 5, said[3]),
        Action({}, chat, press=0, label="Skip"),
        _said(chat, 6, said[4]),
        Action({}, chat, press=0, label="Confirm"),
    ]


@st.composite
def telegram_session(draw: st.DrawFn, max_actions: int = 12) -> list[Action]:
    """A few people's hostile traffic, often after a whole complaint with hostile answers,
    so that the intake, the receipt, the agents' card and the desk are reached."""
    actions: list[Action] = []
    if draw(st.booleans()):
        actions += draw(_intake(PEOPLE[0]))
    count = draw(st.integers(1, max_actions))
    for position in range(count):
        actions.append(draw(telegram_action(10 + position)))
    return actions


# ----- mail ----------------------------------------------------------------------------

FROM_HEADERS = [
    "Li Ming <li@example.com>",
    "li@example.com",
    '"Mal\rBcc: victim@example.org" <mal@example.com>',
    '"Mal\nBcc: victim@example.org" <mal@example.com>',
    "Mal\x00 <mal@example.com>",
    "mal\x00@example.com",
    "purchasing@aquillaindustries.com <do-not-reply@ncs.gov.ng>",
    "mal",
    "<mal>",
    "Mal <mal@>",
    "Mal <@example.com>",
    "<>",
    "undisclosed-recipients:;",
    "Li <li@example.com",
    "li@example.com (Li Ming)",
    '"a b"@example.com',
    "用户@例子.中国",
    "=?utf-8?b?5p2O5piO?= <li@example.com>",
    "=?x-bogus?q?Li?= <li@example.com>",
    "=?utf-8?b?!!!?= <li@example.com>",
    "=?utf-8?q?Mal=0D=0ABcc:_x@y.z?= <mal@example.com>",
    "a@b.c, d@e.f",
    "Li <li@example.com>\r\nBcc: victim@example.org",
    "x" * 5000 + " <li@example.com>",
    "noreply@example.com",
    "No Reply <no-reply@example.com>",
    "MAILER-DAEMON@example.com",
    "li@exa mple.com",
    "li@@example.com",
    "li@example.com\r",
]

FILE_NAMES = [
    "report.pdf", "../../etc/passwd", "..\\..\\boot.ini", "/etc/shadow", "..", ".", "",
    "a\x00b.pdf", "a\rb.pdf", "a\nb.pdf", "=?utf-8?q?=2E=2E=2F=2E=2E=2Fx?=",
    "=?utf-8?b?Li4vLi4vZXRjL3Bhc3N3ZA==?=", "x" * 400 + ".pdf", "CON", "nul.txt",
    "report\u202egnp.exe", "文件.pdf", "C:\\Windows\\win.ini", "file:///etc/passwd",
]
CHARSETS = [
    "utf-8", "us-ascii", "gb2312", "gbk", "big5", "iso-2022-jp", "utf-7", "utf-16",
    "x-bogus-42", "", '"utf-8"', "utf-8'en'", "unicode-1-1-utf-7", "cp65001", "../../x",
    "utf-32", "koi8-r", "latin-1", "windows-1252", "x-mac-chinesesimp",
]
# Python codec names that are no text encodings, as a charset (rot13 and punycode
# once made the reader raise).
CODEC_NAMES = [
    "idna", "rot13", "base64", "zlib", "hex", "punycode", "undefined", "raw_unicode_escape",
    "uu", "bz2", "quopri", "unicode_escape", "charmap",
]


def _crlf(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["\r\n", "\n", "\r\n", "\r"]))


def _payload(draw: st.DrawFn) -> tuple[str, str]:
    """A body and the Content-Transfer-Encoding it claims, valid or not."""
    text = draw(st.one_of(hostile_text(6), st.just("Complaint: charged twice.")))
    encoding = draw(
        st.sampled_from(["7bit", "8bit", "base64", "base64-bad", "qp", "qp-bad", "x-uue", ""])
    )
    if encoding == "base64":
        data = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
        return data, "base64"
    if encoding == "base64-bad":
        return draw(st.sampled_from(["!!!!", "YWJj=ZGVm", "Y", "====", "YW\x00Jj"])), "base64"
    if encoding == "qp":
        return text.replace("=", "=3D"), "quoted-printable"
    if encoding == "qp-bad":
        return "=ZZ=\n=0=", "quoted-printable"
    return text, encoding


@st.composite
def _leaf(draw: st.DrawFn) -> str:
    eol = _crlf(draw)
    mime = draw(
        st.sampled_from(
            ["text/plain", "text/html", "application/octet-stream", "image/png",
             "message/rfc822", "text/rfc822-headers", "message/delivery-status", "x/y", "text"]
        )
    )
    charset = draw(st.sampled_from(CHARSETS + CODEC_NAMES))
    headers = [f"Content-Type: {mime}; charset={charset}"]
    body, encoding = _payload(draw)
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if draw(st.booleans()):
        disposition = draw(st.sampled_from(["attachment", "inline", "bogus", ""]))
        name = draw(st.one_of(st.sampled_from(FILE_NAMES), hostile_text(3)))
        form = draw(st.sampled_from(["quoted", "bare", "2231", "2231-bad", "type-name"]))
        if form == "quoted":
            headers.append(f'Content-Disposition: {disposition}; filename="{name}"')
        elif form == "bare":
            headers.append(f"Content-Disposition: {disposition}; filename={name}")
        elif form == "2231":
            quoted = "".join(f"%{b:02X}" for b in name.encode("utf-8", "surrogatepass"))
            headers.append(f"Content-Disposition: {disposition}; filename*=utf-8''{quoted}")
        elif form == "2231-bad":
            headers.append(f"Content-Disposition: {disposition}; filename*=x-bogus'zz'%ZZ%2e%2e")
        else:
            headers[0] += f'; name="{name}"'
    if mime == "message/rfc822" and draw(st.booleans()):
        body = f"From: inner@example.com{eol}Message-ID: <inner@x>{eol}{eol}{body}"
    return eol.join(headers) + eol + eol + body


@st.composite
def _part(draw: st.DrawFn, depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return draw(_leaf())
    eol = _crlf(draw)
    subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "signed"]))
    boundary = draw(st.sampled_from(["b1", "b1", "b2", "", "a b", "--", "=_x" * 30]))
    declared = draw(st.sampled_from([boundary, boundary, boundary, None, "other"]))
    head = f"Content-Type: multipart/{subtype}"
    if declared is not None:
        head += f'; boundary="{declared}"'
    if subtype == "report":
        head += "; report-type=delivery-status"
    children = [draw(_part(depth - 1)) for _ in range(draw(st.integers(0, 3)))]
    body = "".join(f"--{boundary}{eol}{child}{eol}" for child in children)
    ending = draw(st.sampled_from(["closed", "closed", "open", "garbage"]))
    if ending == "closed":
        body += f"--{boundary}--{eol}"
    elif ending == "garbage":
        body += f"--{boundary}-{eol}--{boundary}x"
    return head + eol + eol + draw(st.sampled_from(["", "preamble" + eol])) + body


@st.composite
def hostile_mail(draw: st.DrawFn) -> bytes:
    """A mail with hostile headers and a random, often broken, MIME structure."""
    eol = _crlf(draw)
    headers: list[str] = []
    if draw(st.integers(0, 9)):
        headers.append("From: " + draw(st.one_of(st.sampled_from(FROM_HEADERS), hostile_text(3))))
    if draw(st.booleans()):
        headers.append("Reply-To: " + draw(st.sampled_from(FROM_HEADERS)))
    headers.append("To: " + draw(st.sampled_from(["desk@example.com", "", "a@b, <<>>"])))
    headers.append("Subject: " + draw(
        st.one_of(
            hostile_text(5),
            st.sampled_from(
                ["=?utf-8?b?!!!?=", "=?x-bogus?q?a?=", "=?gb2312?b?1tDOxA==?=", "Re: x",
                 "Auto-Reply: away", "x" * 20000, "a\rBcc: b@c.d"]
            ),
        )
    ))
    if draw(st.booleans()):
        headers.append(
            "Message-ID: " + draw(st.sampled_from(["<m1@example.com>", "", "<>", "m1", "<a\x00b>"]))
        )
    if draw(st.booleans()):
        headers.append("In-Reply-To: " + draw(st.sampled_from(["<m0@example.com>", "<", "x"])))
    if draw(st.booleans()):
        headers.append(draw(st.sampled_from(
            ["Auto-Submitted: auto-replied", "Precedence: bulk", "Return-Path: <>",
             "X-Long: " + "y" * 100000, "Broken header without colon", ": empty name",
             "Date: yesterday", "Date: Mon, 32 Foo 99999 25:61:61 +9999"]
        )))
    headers.append("MIME-Version: 1.0")
    body = draw(_part(depth=draw(st.integers(0, 4))))
    return (eol.join(headers) + eol + body).encode("utf-8", "surrogateescape")


def deep_mail(depth: int) -> bytes:
    """Multiparts nested `depth` deep, a text at the bottom."""
    head = "From: li@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    body = "Content-Type: text/plain\r\n\r\ncharged twice\r\n"
    for level in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n'
            f"--b{level}\r\n{body}\r\n--b{level}--\r\n"
        )
    return (head + body).encode()


def any_mail() -> st.SearchStrategy[bytes]:
    return st.one_of(
        hostile_mail(),
        hostile_mail(),
        hostile_mail(),
        st.binary(max_size=300),
        st.integers(20, 400).map(deep_mail),
    )
