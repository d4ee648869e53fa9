"""A Telegram Bot API stand-in on 127.0.0.1 for the real python-telegram-bot to talk to.

It speaks the Bot API's HTTP shapes — `{"ok": true, "result": …}` and
`{"ok": false, "error_code": …, "description": …}` — for the methods the bot uses,
serves `getUpdates` as a real long poll with offsets, and stores files for
`getFile` and the file download URL. Simulated users (`FakeUser`) put updates in
the queue the way Telegram clients do and collect what the bot sends them.
Anything the stand-in does not know answers 404 like Telegram, so a new call
shows up as a failing test instead of passing silently.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

MAX_TEXT = 4096
MAX_DOWNLOAD = 20 * 1024 * 1024
_TAG = re.compile(r"</?([a-zA-Z-]+)[^>]*>")
_HTML_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
}


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


class FakeBotApi:
    """Start with `async with FakeBotApi() as api:`; give the bot `api.base_url`."""

    bot_id = 7000001
    bot_username = "complaint_test_bot"

    def __init__(self) -> None:
        self.token = f"{self.bot_id}:AAH-stand-in-secret-token-0123456789"
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.users: dict[int, FakeUser] = {}
        self.files: dict[str, bytes] = {}
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._failures: dict[str, list[ApiError]] = {}
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.base_url = self.base_file_url = ""

    async def __aenter__(self) -> FakeBotApi:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        self.base_file_url = f"http://127.0.0.1:{port}/file/bot"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._runner is not None
        await self.end_polls()
        await self._runner.cleanup()

    # ----- what tests use ------------------------------------------------------------

    def user(
        self, user_id: int, first_name: str, language_code: str | None = "zh-hans"
    ) -> FakeUser:
        user = FakeUser(self, user_id, first_name, language_code)
        self.users[user_id] = user
        return user

    def fail_next(
        self, method: str, code: int, description: str, retry_after: int | None = None
    ) -> None:
        """The next call of `method` fails with this Bot API error."""
        self._failures.setdefault(method, []).append(ApiError(code, description, retry_after))

    async def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queues an update (with a fresh update_id unless it has one: a redelivery)."""
        update.setdefault("update_id", next(self._update_ids))
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    async def redeliver(self, update: dict[str, Any]) -> None:
        """Telegram sends an update again, as after a lost getUpdates response."""
        async with self._changed:
            self._confirmed = min(self._confirmed, update["update_id"])
            self._updates.append(dict(update))
            self._changed.notify_all()

    async def end_polls(self) -> None:
        """Answers pending and later long polls at once, so a stopping bot need not
        wait out its poll timeout."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()

    async def wait_until(self, condition: Callable[[], bool], within: float = 15.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), within)

    def store_file(self, data: bytes) -> str:
        file_id = f"file-{next(self._file_ids)}"
        self.files[file_id] = data
        return file_id

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    # ----- HTTP ------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params = await _params(request)
        async with self._changed:
            self.calls.append((method, params))
            self._changed.notify_all()
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(ApiError(404, "Not Found"))
        try:
            if self._failures.get(method):
                raise self._failures[method].pop(0)
            result = await handler(params)
        except ApiError as error:
            return _error(error)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    # ----- methods ---------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Complaint Bot",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getme(self, _params: dict[str, Any]) -> Any:
        return self.me()

    async def _m_deletewebhook(self, _params: dict[str, Any]) -> Any:
        return True

    async def _m_getwebhookinfo(self, _params: dict[str, Any]) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    async def _m_close(self, _params: dict[str, Any]) -> Any:
        return True

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._confirmed = max(self._confirmed, offset)

        def pending() -> list[dict[str, Any]]:
            return [u for u in self._updates if u["update_id"] >= self._confirmed][:limit]

        async with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= self._confirmed]
            if not pending() and timeout > 0 and not self._closing:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(pending()) or self._closing), timeout
                    )
                except TimeoutError:
                    pass
            return pending()

    async def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        self.commands[params.get("language_code") or ""] = list(params["commands"])
        return True

    async def _m_getmycommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(params.get("language_code") or "", [])

    async def _m_sendchataction(self, params: dict[str, Any]) -> Any:
        self._chat(params)
        return True

    async def _m_answercallbackquery(self, _params: dict[str, Any]) -> Any:
        return True

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        user = self._chat(params)
        raw_text = str(params.get("text", ""))
        text = _visible(raw_text, params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        if user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        message = {
            "message_id": next(user.message_ids),
            "date": int(time.time()),
            "chat": user.chat,
            "from": self.me(),
            "text": text,
        }
        markup = params.get("reply_markup")
        # Telegram echoes only inline keyboards in the Message it returns; the person
        # still sees a reply keyboard, so the chat keeps it.
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        user.messages.append({**message, "reply_markup": markup})
        return message

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        user = self._chat(params)
        message = next(
            (m for m in user.messages if m["message_id"] == int(params["message_id"])), None
        )
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        message["text"] = _visible(str(params["text"]), params.get("parse_mode"))
        message["reply_markup"] = params.get("reply_markup")
        return message

    async def _m_getfile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self.files[file_id])
        if size > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": hashlib.md5(file_id.encode()).hexdigest()[:16],
            "file_size": size,
            "file_path": f"documents/{file_id}",
        }

    def _chat(self, params: dict[str, Any]) -> FakeUser:
        try:
            return self.users[int(params["chat_id"])]
        except (KeyError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None


class FakeUser:
    """A person in a private chat with the bot."""

    def __init__(
        self, api: FakeBotApi, user_id: int, first_name: str, language_code: str | None
    ) -> None:
        self.api = api
        self.id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.blocked = False
        self.messages: list[dict[str, Any]] = []  # what the bot sent to this chat
        self.sent: list[dict[str, Any]] = []  # what this person sent
        self.message_ids = itertools.count(1)
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}

    @property
    def sender(self) -> dict[str, Any]:
        person: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            person["language_code"] = self.language_code
        return person

    async def _message(self, **content: Any) -> dict[str, Any]:
        message = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.sender,
            **content,
        }
        self.sent.append(message)
        return await self.api.push({"message": message})

    async def send_text(self, text: str) -> dict[str, Any]:
        entities = []
        command = re.match(r"/[A-Za-z0-9_]+", text)
        if command:
            entities = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        return await self._message(text=text, **({"entities": entities} if entities else {}))

    async def send_photo(self, data: bytes, caption: str | None = None) -> dict[str, Any]:
        file_id = self.api.store_file(data)
        sizes = [
            {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}{n}",
                "width": w,
                "height": w,
                "file_size": len(data),
            }
            for n, w in enumerate((90, 320, 1280))
        ]
        return await self._message(photo=sizes, **({"caption": caption} if caption else {}))

    async def send_document(
        self, data: bytes, file_name: str, mime_type: str, file_size: int | None = None
    ) -> dict[str, Any]:
        file_id = self.api.store_file(data)
        return await self._message(
            document={
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": file_size or len(data),
            }
        )

    async def share_contact(self, phone_number: str) -> dict[str, Any]:
        return await self._message(
            contact={
                "phone_number": phone_number,
                "first_name": self.first_name,
                "user_id": self.id,
            }
        )

    async def send_sticker(self) -> dict[str, Any]:
        return await self._message(
            sticker={
                "file_id": "sticker-1",
                "file_unique_id": "s1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "😀",
            }
        )

    async def send_voice(self) -> dict[str, Any]:
        return await self._message(
            voice={"file_id": "voice-1", "file_unique_id": "v1", "duration": 3}
        )

    async def send_location(self) -> dict[str, Any]:
        return await self._message(location={"latitude": 39.9, "longitude": 116.4})

    async def edit_text(self, message_id: int, text: str) -> dict[str, Any]:
        original = next(m for m in self.sent if m["message_id"] == message_id)
        edited = {**original, "text": text, "edit_date": int(time.time())}
        return await self.api.push({"edited_message": edited})

    async def press(self, label: str) -> dict[str, Any]:
        """Presses the inline button with this text on the newest message that has it."""
        for message in reversed(self.messages):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in (b for row in rows for b in row):
                if button["text"] == label:
                    return await self.api.push(
                        {
                            "callback_query": {
                                "id": f"cq-{self.id}-{len(self.sent)}-{message['message_id']}",
                                "from": self.sender,
                                "message": message,
                                "chat_instance": str(self.id),
                                "data": button["callback_data"],
                            }
                        }
                    )
        raise AssertionError(f"no button {label!r}; last messages: {self.texts()[-3:]}")

    def block(self) -> None:
        self.blocked = True

    def texts(self, since: int = 0) -> list[str]:
        return [m["text"] for m in self.messages[since:]]

    async def expect(self, fragment: str, since: int, within: float = 15.0) -> str:
        """Waits until a bot message after index `since` contains `fragment`; returns the
        text of everything sent after `since`."""
        try:
            await self.api.wait_until(
                lambda: any(fragment in text for text in self.texts(since)), within
            )
        except TimeoutError:
            raise AssertionError(
                f"{self.first_name} never got {fragment!r}; got {self.texts(since)!r}"
            ) from None
        return "\n".join(self.texts(since))


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters as Telegram reads them: query, urlencoded, multipart or JSON; values
    that PTB sends JSON-encoded (markups, command lists) are decoded."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            params[key] = value.file.read() if hasattr(value, "file") else value
    for key, value in params.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


def _visible(text: str, parse_mode: str | None) -> str:
    """The text as a client shows it; HTML that Telegram would reject is an error."""
    if parse_mode != "HTML":
        return text
    stack: list[str] = []
    for match in _TAG.finditer(text):
        tag = match.group(1).lower()
        if tag not in _HTML_TAGS:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: unsupported start tag "
                f'"{tag}" at byte offset {match.start()}',
            )
        if match.group(0).startswith("</"):
            if not stack or stack.pop() != tag:
                raise ApiError(400, "Bad Request: can't parse entities: unmatched end tag")
        else:
            stack.append(tag)
    if stack:
        raise ApiError(400, "Bad Request: can't parse entities: can't find end tag")
    return html.unescape(_TAG.sub("", text))


def _error(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    return web.json_response(body, status=error.code)
