"""A Bot API that lives in memory and checks every call as Telegram's parser would.

python-telegram-bot's `Bot` is given this as its request object, so the real adapter
(`UpdateReader`) and the real `TelegramSender` run unchanged; nothing touches the
network. Each call is recorded; what Telegram would refuse with "Bad Request" (an empty
or overlong text, a broken HTML text, button data over 64 bytes, ...) is answered with a
400 as Telegram would, and noted in `problems`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from telegram.request import BaseRequest, RequestData

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_BUTTONS = 100
MAX_BUTTONS_PER_ROW = 8
MAX_TOPIC_NAME = 128
_HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "tg-emoji", "code", "pre", "blockquote",
}


@dataclass
class Call:
    method: str
    parameters: dict[str, Any]


@dataclass
class OfflineBotApi(BaseRequest):
    """Answers the Bot API methods the channel uses; `problems` lists refused calls."""

    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    topics: list[int] = field(default_factory=list)
    _next_id: int = 100000

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            return 200, b"%PDF-1.4 fuzz"
        name = url.rsplit("/", 1)[-1]
        parameters = dict(request_data.parameters) if request_data else {}
        self.calls.append(Call(name, parameters))
        refused = problems_of(name, parameters)
        if refused:
            self.problems.extend(f"{name}: {p} in {_short(parameters)}" for p in refused)
            body = {"ok": False, "error_code": 400, "description": "Bad Request: " + refused[0]}
            return 400, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(name, parameters)}).encode()

    def _result(self, name: str, parameters: dict[str, Any]) -> Any:
        self._next_id += 1
        chat_id = parameters.get("chat_id", 1)
        if name in ("sendMessage", "sendPhoto", "sendDocument"):
            chat_type = "private" if int(chat_id) > 0 else "supergroup"
            return {
                "message_id": self._next_id,
                "date": 1767225600,
                "chat": {"id": chat_id, "type": chat_type},
            }
        if name == "getFile":
            return {
                "file_id": parameters.get("file_id", "f"),
                "file_unique_id": "u",
                "file_size": 13,
                "file_path": "documents/file",
            }
        if name == "getChat":
            return {
                "id": chat_id,
                "type": "supergroup",
                "is_forum": True,
                "title": "Desk",
                "accent_color_id": 0,
                "max_reaction_count": 11,
            }
        if name == "createForumTopic":
            self.topics.append(self._next_id)
            return {"message_thread_id": self._next_id, "name": parameters["name"], "icon_color": 0}
        return True

    def sent_markups(self, chat_id: int) -> list[dict[str, Any]]:
        """The reply markups of the messages sent to a chat, oldest first."""
        markups = []
        for call in self.calls:
            if call.method == "sendMessage" and int(call.parameters["chat_id"]) == chat_id:
                markup = call.parameters.get("reply_markup")
                if markup:
                    markups.append(markup if isinstance(markup, dict) else json.loads(markup))
        return markups


def problems_of(method: str, parameters: dict[str, Any]) -> list[str]:
    """What Telegram would refuse in this call (empty when it is fine)."""
    problems: list[str] = []
    if method == "sendMessage":
        problems += _text_problems(str(parameters.get("text", "")), parameters.get("parse_mode"))
    if method == "createForumTopic":
        name = str(parameters.get("name", ""))
        if not name.strip() or len(name) > MAX_TOPIC_NAME:
            problems.append(f"topic name of {len(name)} characters")
    markup = parameters.get("reply_markup")
    if markup:
        problems += _markup_problems(markup if isinstance(markup, dict) else json.loads(markup))
    return problems


def _text_problems(text: str, parse_mode: str | None) -> list[str]:
    problems = []
    if not text.strip():
        problems.append("message text is empty")
    if len(text) > MAX_TEXT:
        problems.append(f"message is too long ({len(text)} characters)")
    if parse_mode is not None and parse_mode.upper() == "HTML":
        problems += _HtmlCheck.problems(text)
    elif parse_mode is not None:
        problems.append(f"parse_mode {parse_mode} is not checked by this suite")
    return problems


def _markup_problems(markup: dict[str, Any]) -> list[str]:
    problems = []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    buttons = [button for row in rows for button in row]
    if len(buttons) > MAX_BUTTONS or any(len(row) > MAX_BUTTONS_PER_ROW for row in rows):
        problems.append(f"too many buttons ({len(buttons)})")
    for button in buttons:
        label = button.get("text", "") if isinstance(button, dict) else str(button)
        if not label.strip():
            problems.append("button text is empty")
        if isinstance(button, dict) and "callback_data" in button:
            size = len(str(button["callback_data"]).encode("utf-8"))
            if not 1 <= size <= MAX_CALLBACK_DATA:
                problems.append(f"BUTTON_DATA_INVALID ({size} bytes)")
    return problems


class _HtmlCheck(HTMLParser):
    """Telegram's HTML: only its tags, every tag closed, entities well-formed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.found: list[str] = []

    @classmethod
    def problems(cls, text: str) -> list[str]:
        check = cls()
        check.feed(text)
        check.close()
        if check.open:
            check.found.append(f"unclosed tags {check.open}")
        return check.found

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            self.found.append(f"unsupported start tag {tag!r}")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.found.append(f"can't find end tag corresponding to {tag!r}")

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.found.append(f"unsupported entity &{name};")


def _short(parameters: dict[str, Any]) -> str:
    text = repr(parameters)
    return text if len(text) < 300 else text[:300] + "…"
