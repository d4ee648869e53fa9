"""A Telegram Bot API stand-in on 127.0.0.1 for the real python-telegram-bot to talk to.

It speaks the Bot API's HTTP shapes — `{"ok": true, "result": …}` and
`{"ok": false, "error_code": …, "description": …}` — for the methods the bot uses,
serves `getUpdates` as a real long poll with offsets — or, once the bot called
`setWebhook`, POSTs each update to the webhook (`telegram_webhook.py`) — and stores files for
`getFile` and the file download URL. Simulated users (`FakeUser`) put updates in
the queue the way Telegram clients do and collect what the bot sends them; a
`FakeGroup` is a supergroup (optionally a forum with topics) where the bot and
people talk, with Telegram's own quirks such as topic messages replying to the
topic's creation message.
Anything the stand-in does not know answers 404 like Telegram, so a new call
shows up as a failing test instead of passing silently.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiohttp import web

from tests.support.telegram_webhook import Delivery, Retry, Webhook, WebhookError

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_TOPIC_NAME = 128
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024
TOPIC_COLOR = 7322096  # Telegram's default topic icon colour (0x6FB9F0)
MEMBER_STATUSES = ("member", "administrator", "creator")
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


# Settings that lift the dispatcher's pacing, for tests about something else: the
# stand-in does not enforce Telegram's limits unless a test asks it to.
UNPACED: dict[str, Any] = {
    "TELEGRAM_MESSAGES_PER_SECOND": 100000,
    "TELEGRAM_CHAT_MESSAGES_PER_SECOND": 100000,
    "TELEGRAM_GROUP_MESSAGES_PER_MINUTE": 100000,
}


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


class Upload(bytes):
    """An uploaded file's bytes that remember the multipart part's file name and content
    type, as Telegram reads them into a Document."""

    filename: str | None
    content_type: str | None

    def __new__(
        cls, data: bytes, filename: str | None = None, content_type: str | None = None
    ) -> Upload:
        upload = super().__new__(cls, data)
        upload.filename, upload.content_type = filename, content_type
        return upload


class FakeBotApi:
    """Start with `async with FakeBotApi() as api:`; give the bot `api.base_url`."""

    bot_id = 7000001
    bot_username = "complaint_test_bot"

    def __init__(self, webhook_retry: Retry | None = None) -> None:
        self.token = f"{self.bot_id}:AAH-stand-in-secret-token-0123456789"
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, FakeGroup] = {}
        self.files: dict[str, bytes] = {}
        self._documents: dict[str, tuple[str | None, str | None]] = {}  # name, mime type
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0
        # (offset, when): each time getUpdates let Telegram forget the updates below offset
        self.acknowledged: list[tuple[int, float]] = []
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._failures: dict[str, list[ApiError]] = {}
        self._drops: dict[str, int] = {}
        self._stalls: dict[str, int] = {}
        self.stalled = 0  # calls that arrived and hang, unanswered
        self._unstall = asyncio.Event()
        self._limits: _Limits | None = None
        self.too_many = 0  # 429 answers given for exceeding the limits
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.base_url = self.base_file_url = ""
        # While a webhook is set, updates go there instead of to getUpdates.
        self.webhook: Webhook | None = None
        self.webhook_retry = webhook_retry or Retry()
        self.deliveries: list[Delivery] = []  # every webhook delivery attempt, in order
        self._routes: dict[str, str] = {}

    async def __aenter__(self) -> FakeBotApi:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner, port = await serve_on_loopback(app)
        self.base_url = f"http://127.0.0.1:{port}/bot"
        self.base_file_url = f"http://127.0.0.1:{port}/file/bot"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._runner is not None
        await self.end_polls()
        if self.webhook is not None:
            await self.webhook.close()
        await self._runner.cleanup()

    # ----- what tests use ------------------------------------------------------------

    def user(
        self, user_id: int, first_name: str, language_code: str | None = "zh-hans"
    ) -> FakeUser:
        user = FakeUser(self, user_id, first_name, language_code)
        self.users[user_id] = user
        return user

    def group(self, chat_id: int, title: str, forum: bool = True) -> FakeGroup:
        """A supergroup the bot has been added to (as an administrator unless the test
        changes `bot_status`); supergroup ids are negative, like -100123."""
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, not {chat_id}")
        group = FakeGroup(self, chat_id, title, forum)
        self.groups[chat_id] = group
        return group

    def fail_next(
        self, method: str, code: int, description: str, retry_after: int | None = None
    ) -> None:
        """The next call of `method` fails with this Bot API error."""
        self._failures.setdefault(method, []).append(ApiError(code, description, retry_after))

    def drop_next(self, method: str, times: int = 1) -> None:
        """The next calls of `method` lose their connection before any answer."""
        self._drops[method] = self._drops.get(method, 0) + times

    def stall_next(self, method: str, times: int = 1) -> None:
        """The next calls of `method` hang, unanswered, until `unstall`; one whose caller
        hung up meanwhile is dropped (it never reached Telegram), the others go on."""
        self._stalls[method] = self._stalls.get(method, 0) + times

    def unstall(self) -> None:
        self._unstall.set()

    def enforce_limits(
        self,
        overall: tuple[int, float] = (30, 1.0),
        private: tuple[int, float] = (1, 1.0),
        group: tuple[int, float] = (20, 60.0),
        now: Callable[[], float] = time.monotonic,
        tolerance: float = 0.0,
        private_burst: int = 3,
    ) -> _Limits:
        """Answers sends (and edits) beyond Telegram's limits with 429 and an integer
        `retry_after`, as Telegram does: at most `overall` messages in any window,
        `group` to one group in any window, and `private` to one private chat on
        average with short bursts of `private_burst` tolerated. `tolerance` forgives
        network jitter when the sender paces by real time. Returns the record of the
        sends let through (`sent`)."""
        self._limits = _Limits(overall, private, group, now, tolerance, private_burst)
        return self._limits

    async def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queues an update (with a fresh update_id unless it has one: a redelivery), or
        while a webhook is set, hands it to the webhook's deliveries."""
        update.setdefault("update_id", next(self._update_ids))
        async with self._changed:
            if self.webhook is not None:
                self.webhook.enqueue(update)
            else:
                self._updates.append(update)
            self._changed.notify_all()
        return update

    async def redeliver(self, update: dict[str, Any]) -> None:
        """Telegram sends an update again, as after a lost getUpdates response."""
        async with self._changed:
            if self.webhook is not None:
                self.webhook.enqueue(dict(update))
            else:
                self._confirmed = min(self._confirmed, update["update_id"])
                self._updates.append(dict(update))
            self._changed.notify_all()

    # ----- webhook deliveries ----------------------------------------------------------

    def route(self, public: str, local: str) -> None:
        """Deliveries to a webhook URL starting with `public` (such as
        https://bot.example.com) go to `local` (http://127.0.0.1:8081) instead, with
        X-Forwarded-For and X-Forwarded-Proto as a TLS-terminating proxy sets them."""
        self._routes[public.rstrip("/")] = local.rstrip("/")

    def attempts_of(self, update: int | dict[str, Any]) -> list[Delivery]:
        """The delivery attempts of one update (by update_id or the pushed update)."""
        update_id = update if isinstance(update, int) else update["update_id"]
        return [d for d in self.deliveries if d.update_id == update_id]

    def attempt_counts(self) -> dict[int, int]:
        """How many delivery attempts each update has had, by update_id."""
        counts: dict[int, int] = {}
        for delivery in self.deliveries:
            counts[delivery.update_id] = counts.get(delivery.update_id, 0) + 1
        return counts

    async def wait_delivered(
        self,
        update: int | dict[str, Any] | Callable[[dict[str, Any]], bool],
        within: float = 15.0,
    ) -> list[Delivery]:
        """Waits until the webhook accepted an update — by update_id, the pushed update,
        or the first update a predicate matches — and returns that update's attempts."""
        if callable(update):
            matches = update
        else:
            update_id = update if isinstance(update, int) else update["update_id"]

            def matches(candidate: dict[str, Any]) -> bool:
                return bool(candidate["update_id"] == update_id)

        def accepted() -> Delivery | None:
            return next((d for d in self.deliveries if d.accepted and matches(d.update)), None)

        try:
            await self.wait_until(lambda: accepted() is not None, within)
        except TimeoutError:
            raise AssertionError(
                f"no such update was accepted within {within}s; attempts: "
                f"{[(d.update_id, d.status or d.error) for d in self.deliveries]}"
            ) from None
        found = accepted()
        assert found is not None
        return self.attempts_of(found.update_id)

    async def wait_attempts(
        self, update: int | dict[str, Any], count: int, within: float = 15.0
    ) -> list[Delivery]:
        """Waits until an update has had at least `count` delivery attempts; returns them."""
        try:
            await self.wait_until(lambda: len(self.attempts_of(update)) >= count, within)
        except TimeoutError:
            raise AssertionError(
                f"fewer than {count} attempts within {within}s: {self.attempts_of(update)}"
            ) from None
        return self.attempts_of(update)

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
        if self._drops.get(method):
            self._drops[method] -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if self._stalls.get(method):
            self._stalls[method] -= 1
            async with self._changed:
                self.stalled += 1
                self._changed.notify_all()
            await self._unstall.wait()
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # the caller is gone: nothing happened
        try:
            if self._failures.get(method):
                raise self._failures[method].pop(0)
            if self._limits is not None and method in _SENDS and "chat_id" in params:
                wait = self._limits.admit(int(params["chat_id"]), method)
                if wait:
                    self.too_many += 1
                    raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
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

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        webhook = self.webhook or Webhook(
            self._changed, self.deliveries, self.webhook_retry, self._routes
        )
        try:
            webhook.configure(params)
        except WebhookError as error:
            raise ApiError(400, str(error)) from None
        async with self._changed:
            if self.webhook is None:
                # What getUpdates had not handed out yet goes by the webhook now.
                waiting = [u for u in self._updates if u["update_id"] >= self._confirmed]
                self._updates = []
                self.webhook = webhook
                for update in waiting:
                    webhook.enqueue(update)
            if _true(params.get("drop_pending_updates")):
                webhook.drop_pending()
            self._changed.notify_all()  # a long poll under way ends with 409
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        webhook, self.webhook = self.webhook, None
        left = await webhook.close() if webhook is not None else []
        async with self._changed:
            if _true(params.get("drop_pending_updates")):
                self._updates = []
            elif left:
                # Updates the webhook did not take are waiting for getUpdates now.
                self._confirmed = min(self._confirmed, left[0]["update_id"])
                self._updates = sorted(self._updates + left, key=lambda u: u["update_id"])
            self._changed.notify_all()
        return True

    async def _m_getwebhookinfo(self, _params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            return self.webhook.info()
        waiting = [u for u in self._updates if u["update_id"] >= self._confirmed]
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(waiting)}

    async def _m_close(self, _params: dict[str, Any]) -> Any:
        return True

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, _WEBHOOK_ACTIVE)
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset > self._confirmed:
            self.acknowledged.append((offset, time.time()))
            self._confirmed = offset

        def pending() -> list[dict[str, Any]]:
            return [u for u in self._updates if u["update_id"] >= self._confirmed][:limit]

        async with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= self._confirmed]
            if not pending() and timeout > 0 and not self._closing:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(
                            lambda: bool(pending()) or self._closing or self.webhook is not None
                        ),
                        timeout,
                    )
                except TimeoutError:
                    pass
            if self.webhook is not None:
                raise ApiError(409, "Conflict: terminated by setWebhook request")
            return pending()

    async def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        self.commands[params.get("language_code") or ""] = list(params["commands"])
        return True

    async def _m_getmycommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(params.get("language_code") or "", [])

    async def _m_sendchataction(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        if isinstance(chat, FakeGroup):
            chat.thread_of(params)
        return True

    async def _m_answercallbackquery(self, _params: dict[str, Any]) -> Any:
        return True

    async def _m_getchat(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        # ChatFullInfo: Telegram always sends these three, and PTB requires them.
        return {
            **chat.chat,
            "accent_color_id": abs(chat.id) % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _m_getchatmember(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        try:
            user_id = int(params["user_id"])
        except (KeyError, ValueError):
            raise ApiError(400, "Bad Request: invalid user_id specified") from None
        if isinstance(chat, FakeUser):
            if user_id not in (chat.id, self.bot_id):
                raise ApiError(400, "Bad Request: user not found")
            person = self.me() if user_id == self.bot_id else chat.sender
            return {"status": "member", "user": person}
        if user_id != self.bot_id and user_id not in self.users:
            raise ApiError(400, "Bad Request: user not found")
        return chat.member(user_id)

    async def _m_getchatadministrators(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        if isinstance(chat, FakeUser):
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        # "…a list of administrators in a chat, which aren't bots": the bot is left out.
        ranked = sorted(
            (uid for uid, status in chat.statuses.items() if status != "member"),
            key=lambda uid: chat.statuses[uid] != "creator",
        )
        return [chat.member(uid) for uid in ranked]

    async def _m_createforumtopic(self, params: dict[str, Any]) -> Any:
        group = self._group(params)
        if not group.forum:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if group.bot_status != "administrator" or not group.bot_can_manage_topics:
            raise ApiError(400, "Bad Request: not enough rights to create a topic")
        name = str(params.get("name") or "")
        if not name or len(name) > MAX_TOPIC_NAME:
            raise ApiError(400, "Bad Request: TOPIC_NAME_INVALID")
        color = int(params.get("icon_color") or TOPIC_COLOR)
        thread = group.open_topic(name, color)
        topic: dict[str, Any] = {"message_thread_id": thread, "name": name, "icon_color": color}
        if params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = str(params["icon_custom_emoji_id"])
        return topic

    async def _m_deleteforumtopic(self, params: dict[str, Any]) -> Any:
        group = self._group(params)
        if not group.forum:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if group.bot_status != "administrator":
            raise ApiError(400, "Bad Request: not enough rights to delete a topic")
        thread = _int(params.get("message_thread_id"))
        if thread not in group.topics:
            raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        group.delete_topic(thread)
        return True

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        raw_text = str(params.get("text", ""))
        text = _visible(raw_text, params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return self._post(chat, params, {"text": text})

    async def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        data, file_id, _, _ = self._upload(params, "photo")
        sizes = _photo_sizes(file_id, len(data))
        return self._post(chat, params, {"photo": sizes, **self._caption(params)}, data)

    async def _m_senddocument(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        data, file_id, name, mime = self._upload(params, "document")
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": _unique(file_id)}
        if name:
            document["file_name"] = name
        if mime:
            document["mime_type"] = mime
        document["file_size"] = len(data)
        return self._post(chat, params, {"document": document, **self._caption(params)}, data)

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        message = next(
            (
                m
                for m in chat.messages
                if m["message_id"] == _int(params.get("message_id")) and chat.visible(m)
            ),
            None,
        )
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = _visible(str(params.get("text", "")), params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        message["text"] = text
        message["reply_markup"] = params.get("reply_markup")
        message["edit_date"] = int(time.time())
        return _shown(message)

    async def _m_getfile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(self.files[file_id])
        if size > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": _unique(file_id),
            "file_size": size,
            "file_path": f"documents/{file_id}",
        }

    # ----- helpers -----------------------------------------------------------------

    def _target(self, params: dict[str, Any]) -> FakeUser | FakeGroup:
        """The chat `chat_id` names, failing like Telegram for one the bot cannot reach."""
        chat_id = _int(params.get("chat_id"))
        if chat_id in self.groups:
            group = self.groups[chat_id]
            if group.bot_status == "left":
                raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
            if group.bot_status == "kicked":
                raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
            return group
        if chat_id is not None and chat_id in self.users:
            return self.users[chat_id]
        raise ApiError(400, "Bad Request: chat not found")

    def _group(self, params: dict[str, Any]) -> FakeGroup:
        chat = self._target(params)
        if not isinstance(chat, FakeGroup):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        return chat

    def _upload(
        self, params: dict[str, Any], field: str
    ) -> tuple[bytes, str, str | None, str | None]:
        """The file of a send: an upload gets a new file_id; a known file_id is sent
        again. Returns the bytes, the file_id, the file name and the mime type."""
        value = params.get(field)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        if isinstance(value, bytes):
            if not value:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if len(value) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            name = getattr(value, "filename", None)
            mime = getattr(value, "content_type", None)
            file_id = self.store_file(bytes(value))
            self._documents[file_id] = (name, mime)
            return bytes(value), file_id, name, mime
        file_id = str(value)
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        name, mime = self._documents.get(file_id, (None, None))
        return self.files[file_id], file_id, name, mime

    @staticmethod
    def _caption(params: dict[str, Any]) -> dict[str, Any]:
        caption = _visible(str(params.get("caption") or ""), params.get("parse_mode"))
        if len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": caption} if caption else {}

    def _post(
        self,
        chat: FakeUser | FakeGroup,
        params: dict[str, Any],
        content: dict[str, Any],
        file_bytes: bytes | None = None,
    ) -> dict[str, Any]:
        """Puts a bot message into `chat` and returns the Message as Telegram does."""
        if isinstance(chat, FakeUser) and chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        thread = chat.thread_of(params)
        reply = chat.replied(params, thread)
        if isinstance(chat, FakeGroup) and thread is None and reply is not None:
            thread = chat.topic_of(reply)  # a reply lands in the topic of what it answers
        message: dict[str, Any] = {
            "message_id": next(chat.message_ids),
            "date": int(time.time()),
            "chat": chat.chat,
            "from": self.me(),
        }
        if isinstance(chat, FakeGroup):
            message.update(chat.placing(thread, reply))
        elif reply is not None:
            message["reply_to_message"] = _shown(reply, nested=True)
        message.update(content)
        markup = params.get("reply_markup")
        # Telegram echoes only inline keyboards in the Message it returns; the person
        # still sees a reply keyboard, so the chat keeps it.
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        stored = {**message, "reply_markup": markup}
        if file_bytes is not None:
            stored["file_bytes"] = file_bytes
        chat.messages.append(stored)
        return message


class _Chat:
    """What private chats and groups share: a message counter and what each side sent."""

    api: FakeBotApi
    id: int
    messages: list[dict[str, Any]]  # what the bot sent to this chat
    sent: list[dict[str, Any]]  # what people sent in it
    message_ids: Iterator[int]

    @property
    def chat(self) -> dict[str, Any]:
        raise NotImplementedError

    def visible(self, message: dict[str, Any]) -> bool:
        """Whether the message still exists (a deleted topic takes its messages along)."""
        return True

    def find(self, message_id: int | None) -> dict[str, Any] | None:
        """Any message in this chat by id, as stored."""
        return next(
            (m for m in self._everything() if m["message_id"] == message_id and self.visible(m)),
            None,
        )

    def _everything(self) -> Iterable[dict[str, Any]]:
        return itertools.chain(self.messages, self.sent)

    def thread_of(self, params: dict[str, Any]) -> int | None:
        """The topic a send names with `message_thread_id`; private chats have none."""
        if params.get("message_thread_id") in (None, ""):
            return None
        raise ApiError(400, "Bad Request: message thread not found")

    def replied(self, params: dict[str, Any], thread: int | None) -> dict[str, Any] | None:
        """The message a send answers (`reply_parameters` or the legacy
        `reply_to_message_id`); a missing one fails unless the bot allowed that."""
        options = params.get("reply_parameters")
        if isinstance(options, dict):
            message_id = _int(options.get("message_id"))
            allow = _true(options.get("allow_sending_without_reply"))
            if options.get("chat_id") not in (None, "", self.id, str(self.id)):
                message_id = None  # replies into other chats are not simulated
        else:
            message_id = _int(params.get("reply_to_message_id"))
            allow = _true(params.get("allow_sending_without_reply"))
            if message_id is None:
                return None
        reply = self.find(message_id)
        if reply is not None and thread is not None and self.topic_of(reply) != thread:
            reply = None  # a message in another topic cannot be answered from this one
        if reply is None and not allow:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return reply

    def topic_of(self, message: dict[str, Any]) -> int | None:
        return message.get("message_thread_id") if message.get("is_topic_message") else None


class FakeGroup(_Chat):
    """A supergroup with the bot in it — the agents' group. With `forum` it has topics,
    each named by the message_id of its creation service message, as in Telegram."""

    def __init__(self, api: FakeBotApi, chat_id: int, title: str, forum: bool) -> None:
        self.api = api
        self.id = chat_id
        self.title = title
        self.forum = forum
        self.bot_status = "administrator"  # "member": a bot nobody made admin
        self.bot_can_manage_topics = True
        self.members: dict[int, FakeUser] = {}
        self.statuses: dict[int, str] = {}  # user id → "member"/"administrator"/"creator"
        self.messages: list[dict[str, Any]] = []  # what the bot sent, as Telegram returned it
        self.sent: list[dict[str, Any]] = []  # what people sent
        self.topics: dict[int, str] = {}  # thread id → name, while the topic exists
        self.message_ids = itertools.count(1)
        self._service: list[dict[str, Any]] = []  # forum_topic_created messages
        self._colors: dict[int, int] = {}

    @property
    def chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "supergroup", "title": self.title}
        if self.forum:
            chat["is_forum"] = True
        return chat

    # ----- what tests use ------------------------------------------------------------

    def join(self, user: FakeUser, status: str = "member") -> None:
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status is one of {MEMBER_STATUSES}, not {status!r}")
        self.members[user.id] = user
        self.statuses[user.id] = status

    def open_topic(
        self, name: str, icon_color: int = TOPIC_COLOR, by: FakeUser | None = None
    ) -> int:
        """Creates a topic and returns its thread id: the bot's createForumTopic, or a
        person's by hand with `by`. Bots do not get their own service messages, and
        this stand-in pushes none for topics people create either."""
        if not self.forum:
            raise ValueError(f"{self.title!r} is not a forum")
        thread = next(self.message_ids)
        self._service.append(
            {
                "message_id": thread,
                "date": int(time.time()),
                "chat": self.chat,
                "from": by.sender if by else self.api.me(),
                "message_thread_id": thread,
                "is_topic_message": True,
                "forum_topic_created": {"name": name, "icon_color": icon_color},
            }
        )
        self.topics[thread] = name
        return thread

    def delete_topic(self, thread_id: int) -> None:
        """An admin deletes the topic: its messages go with it and sends into it fail."""
        del self.topics[thread_id]

    def texts(self, since: int = 0, thread: int | None = None) -> list[str]:
        return [
            m.get("text") or m.get("caption") or ""
            for m in self.messages[since:]
            if thread is None or self._in_thread(m, thread)
        ]

    def files(self, since: int = 0, thread: int | None = None) -> list[tuple[str, bytes]]:
        return [
            _file(m)
            for m in self.messages[since:]
            if "file_bytes" in m and (thread is None or self._in_thread(m, thread))
        ]

    async def expect(
        self, fragment: str, since: int, thread: int | None = None, within: float = 15.0
    ) -> str:
        """Waits until a bot message after index `since` (in `thread`, if given) contains
        `fragment`; returns the text of everything sent there after `since`."""
        try:
            await self.api.wait_until(
                lambda: any(fragment in text for text in self.texts(since, thread)), within
            )
        except TimeoutError:
            raise AssertionError(
                f"{self.title} never got {fragment!r} in thread {thread}; "
                f"got {self.texts(since, thread)!r}"
            ) from None
        return "\n".join(self.texts(since, thread))

    async def say(
        self, user: FakeUser, text: str, thread: int | None = None, reply_to: int | None = None
    ) -> dict[str, Any]:
        """A member posts a text; commands (also `/cmd@botname`) carry a bot_command
        entity. Returns the update."""
        command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        entities = (
            [{"type": "bot_command", "offset": 0, "length": command.end()}] if command else []
        )
        return await self._message(
            user, thread, reply_to, text=text, **({"entities": entities} if entities else {})
        )

    async def send_photo(
        self,
        user: FakeUser,
        data: bytes,
        caption: str | None = None,
        thread: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        return await self._message(
            user,
            thread,
            reply_to,
            photo=_photo_sizes(self.api.store_file(data), len(data)),
            **({"caption": caption} if caption else {}),
        )

    async def send_document(
        self,
        user: FakeUser,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        thread: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        file_id = self.api.store_file(data)
        return await self._message(
            user,
            thread,
            reply_to,
            document={
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(data),
            },
            **({"caption": caption} if caption else {}),
        )

    async def press(self, user: FakeUser, label: str, since: int = 0) -> dict[str, Any]:
        """`user` presses the inline button with this text on the newest bot message in
        the group (after index `since`) that has it."""
        for message in reversed(self.messages[since:]):
            if not self.visible(message):
                continue
            for button in _buttons(message):
                if button["text"] == label:
                    return await self.api.push(
                        {
                            "callback_query": {
                                "id": f"cq-{user.id}-{len(self.sent)}-{message['message_id']}",
                                "from": user.sender,
                                "message": _shown(message),
                                "chat_instance": str(self.id),
                                "data": button["callback_data"],
                            }
                        }
                    )
        raise AssertionError(f"no button {label!r} in {self.title}; last: {self.texts()[-3:]}")

    async def edit_text(self, user: FakeUser, message_id: int, text: str) -> dict[str, Any]:
        original = next(
            m for m in self.sent if m["message_id"] == message_id and m["from"]["id"] == user.id
        )
        edited = {**original, "text": text, "edit_date": int(time.time())}
        return await self.api.push({"edited_message": edited})

    # ----- what the API uses -----------------------------------------------------------

    def member(self, user_id: int) -> dict[str, Any]:
        """The ChatMember Telegram answers for this user id."""
        if user_id == self.api.bot_id:
            status, person = self.bot_status, self.api.me()
        else:
            status = self.statuses.get(user_id, "left")
            person = self.api.users[user_id].sender
        member: dict[str, Any] = {"user": person, "status": status}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            bot = user_id == self.api.bot_id
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=not bot,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=not bot,
                can_edit_stories=not bot,
                can_delete_stories=not bot,
                can_pin_messages=True,
                can_manage_topics=self.bot_can_manage_topics if bot else True,
            )
        return member

    def visible(self, message: dict[str, Any]) -> bool:
        thread = self.topic_of(message)
        return thread is None or thread in self.topics

    def _everything(self) -> Iterable[dict[str, Any]]:
        return itertools.chain(self.messages, self.sent, self._service)

    def thread_of(self, params: dict[str, Any]) -> int | None:
        thread = params.get("message_thread_id")
        if thread in (None, ""):
            return None
        if not self.forum or _int(thread) not in self.topics:
            raise ApiError(400, "Bad Request: message thread not found")
        return _int(thread)

    def placing(self, thread: int | None, reply: dict[str, Any] | None) -> dict[str, Any]:
        """Where a new message sits: in a topic it carries the thread id and, unless it
        answers something else, replies to the topic's creation message."""
        if thread is None:
            return {} if reply is None else {"reply_to_message": _shown(reply, nested=True)}
        if thread not in self.topics:
            raise ApiError(400, "Bad Request: message thread not found")
        created = reply or next(m for m in self._service if m["message_id"] == thread)
        return {
            "message_thread_id": thread,
            "is_topic_message": True,
            "reply_to_message": _shown(created, nested=True),
        }

    def _in_thread(self, message: dict[str, Any], thread: int) -> bool:
        if self.forum:
            return bool(message.get("message_thread_id") == thread)
        replied = message.get("reply_to_message") or {}
        return bool(message["message_id"] == thread or replied.get("message_id") == thread)

    async def _message(
        self, user: FakeUser, thread: int | None, reply_to: int | None, **content: Any
    ) -> dict[str, Any]:
        if thread is not None and not self.forum and reply_to is None:
            reply_to, thread = thread, None  # a plain group's "thread" is a reply chain
        if thread is not None and thread not in self.topics:
            raise AssertionError(f"{self.title} has no topic {thread}: {self.topics}")
        reply = None
        if reply_to is not None:
            reply = self.find(reply_to)
            if reply is None:
                raise AssertionError(f"{self.title} has no message {reply_to}")
            if thread is None:
                thread = self.topic_of(reply)
        message = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": self.chat,
            "from": user.sender,
            **self.placing(thread, reply),
            **content,
        }
        self.sent.append(message)
        return await self.api.push({"message": message})


class FakeUser(_Chat):
    """A person in a private chat with the bot (and possibly a member of groups)."""

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

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}

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
        sizes = _photo_sizes(self.api.store_file(data), len(data))
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
            for button in _buttons(message):
                if button["text"] == label:
                    return await self.api.push(
                        {
                            "callback_query": {
                                "id": f"cq-{self.id}-{len(self.sent)}-{message['message_id']}",
                                "from": self.sender,
                                "message": _shown(message),
                                "chat_instance": str(self.id),
                                "data": button["callback_data"],
                            }
                        }
                    )
        raise AssertionError(f"no button {label!r}; last messages: {self.texts()[-3:]}")

    def block(self) -> None:
        self.blocked = True

    def texts(self, since: int = 0) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.messages[since:]]

    def files(self, since: int = 0) -> list[tuple[str, bytes]]:
        """The files the bot sent here after index `since`: (file name or "photo", bytes)."""
        return [_file(m) for m in self.messages[since:] if "file_bytes" in m]

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


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Starts `app` on 127.0.0.1 at a free port; returns its runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters as Telegram reads them: query, urlencoded, multipart or JSON; values
    that PTB sends JSON-encoded (markups, command lists) are decoded. An uploaded file
    arrives as `Upload` bytes that keep the part's file name and content type."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = Upload(value.file.read(), value.filename, value.content_type)
            else:
                params[key] = value.file.read() if hasattr(value, "file") else value
    for key, value in params.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _unique(file_id: str) -> str:
    return hashlib.md5(file_id.encode()).hexdigest()[:16]


def _photo_sizes(file_id: str, size: int) -> list[dict[str, Any]]:
    return [
        {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}{n}",
            "width": w,
            "height": w,
            "file_size": size,
        }
        for n, w in enumerate((90, 320, 1280))
    ]


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button for row in rows for button in row]


def _file(message: dict[str, Any]) -> tuple[str, bytes]:
    name = "photo" if "photo" in message else message["document"].get("file_name") or "document"
    return name, message["file_bytes"]


def _shown(message: dict[str, Any], nested: bool = False) -> dict[str, Any]:
    """A stored message as Telegram shows it: no test-only keys, only an inline keyboard
    as markup, and a replied-to message carries no reply of its own."""
    shown = {k: v for k, v in message.items() if k not in ("file_bytes", "reply_markup")}
    markup = message.get("reply_markup")
    if markup and "inline_keyboard" in markup:
        shown["reply_markup"] = markup
    if nested:
        shown.pop("reply_to_message", None)
    return shown


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


_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)

# What Telegram's limits count: every message the bot sends, and edits too.
_SENDS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
    }
)


class _Limits:
    """Telegram's rate limits: sliding windows of accepted sends overall and per group,
    and per private chat a token bucket (one a second, `private_burst` at once)."""

    def __init__(
        self,
        overall: tuple[int, float],
        private: tuple[int, float],
        group: tuple[int, float],
        now: Callable[[], float],
        tolerance: float,
        private_burst: int = 3,
    ) -> None:
        self.overall, self.private, self.group = overall, private, group
        # Under a microsecond is float rounding (test clocks count microseconds, from
        # a large epoch), not a send too early.
        self.now, self.tolerance = now, tolerance + 1e-6
        self.private_burst = private_burst
        # (when, chat_id, method) of every send let through, oldest first
        self.sent: list[tuple[float, int, str]] = []
        # per private chat: when its bucket is full again (one float, as in GCRA)
        self._full_at: dict[int, float] = {}
        # (when, chat_id, which limit: "overall", "group" or "private") of each refusal
        self.refused: list[tuple[float, int, str]] = []

    def admit(self, chat_id: int, method: str = "sendMessage") -> int:
        """0 when the send may go (and counts it), else the seconds to wait."""
        now = self.now()
        windows = [("overall", self.overall, [t for t, _c, _m in self.sent])]
        if chat_id < 0:
            windows.append(("group", self.group, [t for t, c, _m in self.sent if c == chat_id]))
        for limit, (count, seconds), times in windows:
            recent = [t for t in times if t > now - seconds + self.tolerance]
            if len(recent) >= count:
                self.refused.append((now, chat_id, limit))
                return max(1, math.ceil(recent[0] + seconds - now))
        if chat_id >= 0:
            count, seconds = self.private
            interval = seconds / count
            full_at = max(self._full_at.get(chat_id, now), now)
            early = full_at - (self.private_burst - 1) * interval - now - self.tolerance
            if early > 0:
                self.refused.append((now, chat_id, "private"))
                return max(1, math.ceil(early))
            self._full_at[chat_id] = full_at + interval
        self.sent.append((now, chat_id, method))
        horizon = now - max(self.overall[1], self.group[1])
        if len(self.sent) > 10000:
            self.sent = [sent for sent in self.sent if sent[0] > horizon]
            self._full_at = {c: t for c, t in self._full_at.items() if t > now}
        return 0


def _error(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    return web.json_response(body, status=error.code)
