"""The web chat's HTTP side, under /chat/.

- `GET /chat/`: the chat page (also inside the widget's frame, `?embed=1`).
- `GET /chat/widget.js`: the snippet a company's site embeds: a bubble that opens it.
- `POST /chat/api/session`: the conversation so far, for the token the page keeps
  (`X-Chat-Token`, else the HttpOnly cookie on /chat/); `{"begin": true}` starts one.
- `POST /chat/api/send`: one message (JSON; the page's own `id` makes a retry harmless);
  answered once stored and handed to the bot, the answer in the response: the messages
  after the page's `after` (the last it showed), which the bot wrote with it.
- `POST /chat/api/upload`: one file (multipart, `after` as a field), checked by content
  and size; answered the same way.
- `GET /chat/api/events?after=N`: server-sent events: the conversation's messages after
  N as they come; a comment line every `HEARTBEAT` seconds keeps proxies from closing it.
- `POST /chat/api/seen`: the page showed messages up to an id.

Nothing is acknowledged before it is stored: while the database is away the page hears
503 and sends again. Limits: requests per address (WEB_REQUESTS_PER_MINUTE_PER_IP),
messages per conversation, and conversations begun per address that filed nothing
(WEB_OPEN_DRAFTS_PER_IP).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bot.file_kinds import evidence_type
from channels.spec import ChannelContext, Gettext, Transcript, TranscriptEntry, Visitors
from channels.web import CHANNEL
from channels.web.inbound import Unreadable, check, to_inbound
from channels.web.throttle import Throttle
from channels.web.tokens import ConversationTokens, is_resume_token, valid_message_id
from channels.web.uploads import keep_upload, safe_name
from channels.web.watch import TranscriptWatch

log = logging.getLogger(__name__)

LOCALES = ("zh_CN", "en")
TOKEN_HEADER = "x-chat-token"
TOKEN_COOKIE = "cb_chat"
HEARTBEAT = 15.0  # seconds between keep-alive comments on an idle stream
STREAM_SECONDS = 300.0  # a stream ends after about this; the page opens the next
MESSAGES_PER_MINUTE = 30  # one conversation's messages (the bot has its own limit too)
DRAFT_WINDOW = timedelta(hours=24)
HISTORY = 500  # messages a page gets at once


def stream_seconds() -> float:
    """How long one event stream lasts: STREAM_SECONDS, give or take a fifth at random.
    Pages that opened their streams together (all of them, after a restart) would
    otherwise open them again together every five minutes, each time at once."""
    return STREAM_SECONDS * random.uniform(0.8, 1.2)


def entry_json(entry: TranscriptEntry) -> dict[str, Any]:
    """A stored message as the page shows it."""
    raw = entry.raw or {}
    if entry.direction == "out":
        return {
            "id": entry.id,
            "dir": "out",
            "ref": entry.ref,
            "text": raw.get("text", entry.text),
            "buttons": raw.get("buttons", []),
            "contact": raw.get("contact_button"),
            "files": [{"name": f.get("name"), "size": f.get("size")} for f in raw.get("files", [])],
            "edit": raw.get("edit"),
            "at": entry.at.isoformat(),
        }
    file = raw.get("file") if isinstance(raw.get("file"), dict) else None
    return {
        "id": entry.id,
        "dir": "in",
        "mid": raw.get("id"),
        "kind": raw.get("kind"),
        "text": raw.get("label") or raw.get("phone") or entry.text,
        "file": None if file is None else {"name": file.get("name"), "size": file.get("size")},
        "at": entry.at.isoformat(),
    }


class WebChat:
    """The chat's endpoints for one worker."""

    def __init__(
        self,
        context: ChannelContext,
        transcript: Transcript,
        visitors: Visitors,
        watch: TranscriptWatch,
        tokens: ConversationTokens,
        *,
        uploads: Path,
        max_upload_bytes: int,
        per_address: int,
        open_drafts: int,
    ) -> None:
        self.context = context
        self.transcript = transcript
        self.visitors = visitors
        self.watch = watch
        self.tokens = tokens
        self.uploads = uploads
        self.max_upload_bytes = max_upload_bytes
        self.open_drafts = open_drafts
        self.per_address = Throttle(per_address, 60)
        self.per_conversation = Throttle(MESSAGES_PER_MINUTE, 60)

    # ----- who is asking ------------------------------------------------------------

    @staticmethod
    def token_of(request: Request) -> str | None:
        return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)

    @staticmethod
    def address_of(request: Request) -> str | None:
        return request.client.host if request.client else None

    def texts(self, request: Request, lang: object = None) -> Gettext:
        """The visitor's language: the page's (`lang`), else the browser's."""
        code = lang if isinstance(lang, str) else request.query_params.get("lang", "")
        code = "zh_CN" if code.lower().startswith("zh") else code
        if code not in LOCALES:
            accepted = request.headers.get("accept-language", "").lower()
            code = "en" if accepted.startswith("en") else "zh_CN"
        return self.context.gettext(code)

    def refused(self, request: Request, status: int, text: str, **more: Any) -> JSONResponse:
        return JSONResponse({"ok": False, "error": text, **more}, status_code=status)

    def _over_limit(self, request: Request) -> Response | None:
        address, now = self.address_of(request), self.context.clock.now()
        if self.per_address.allow(address, now):
            return None
        _ = self.texts(request)
        wait = int(self.per_address.retry_after(address or "", now)) + 1
        self.context.count_inbound(CHANNEL, "refused")
        return self.refused(
            request,
            429,
            _("Too many requests from your network; please try again in a minute."),
            retry_after=wait,
        )

    # ----- endpoints ----------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        if (limited := self._over_limit(request)) is not None:
            return limited
        body = await _json(request)
        _ = self.texts(request, body.get("lang"))
        token = self.token_of(request)
        conversation = self.tokens.conversation_of(token)
        if conversation is not None and is_resume_token(token):
            # A mailed link's token: the page keeps a fresh one, valid from now.
            token = self.tokens.resume_token(conversation, self.context.clock.now())
        if conversation is None and body.get("begin") is True:
            refusal = await self._may_begin(request)
            if refusal is not None:
                return self.refused(request, 429, refusal)
            token = self.tokens.new_token()
            conversation = self.tokens.conversation_of(token)
            assert conversation is not None
            try:
                await self.visitors.begin(
                    conversation, self.address_of(request), self.context.clock.now()
                )
            except Exception as error:
                return self._unavailable(request, error)
        if conversation is None:
            return JSONResponse({"ok": True, "token": None, "entries": [], "after": 0})
        try:
            entries = await self.transcript.since(CHANNEL, conversation, 0, HISTORY)
        except Exception as error:
            return self._unavailable(request, error)
        response = JSONResponse(
            {
                "ok": True,
                "token": token,
                "entries": [entry_json(e) for e in entries],
                "after": entries[-1].id if entries else 0,
            }
        )
        assert token is not None
        _remember(response, request, token)
        return response

    async def _may_begin(self, request: Request) -> str | None:
        """Why this address may not begin another conversation now; None: it may."""
        address = self.address_of(request)
        if address is None:
            return None
        since = self.context.clock.now() - DRAFT_WINDOW
        if await self.visitors.open_drafts(CHANNEL, address, since) < self.open_drafts:
            return None
        _ = self.texts(request)
        self.context.count_inbound(CHANNEL, "refused")
        return _(
            "Too many unfinished complaints were started from your network today; please "
            "finish one, or try again tomorrow."
        )

    async def send(self, request: Request) -> Response:
        if (limited := self._over_limit(request)) is not None:
            return limited
        body = await _json(request)
        payload = {
            k: body.get(k)
            for k in ("id", "kind", "text", "data", "label", "phone", "lang", "consent", "on")
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return await self._take(request, payload, _shown_upto(body.get("after")))

    async def upload(self, request: Request) -> Response:
        if (limited := self._over_limit(request)) is not None:
            return limited
        _ = self.texts(request)
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception:
            return self.refused(
                request, 400, _("The file could not be read; please send it again.")
            )
        file = form.get("file")
        fields = {k: form.get(k) for k in ("id", "lang", "consent")}
        after = _shown_upto(form.get("after"))
        if file is None or isinstance(file, str):
            return self.refused(
                request, 400, _("The file could not be read; please send it again.")
            )
        data = await file.read(self.max_upload_bytes + 1)
        limit_mb = self.max_upload_bytes // (1024 * 1024)
        if len(data) > self.max_upload_bytes:
            return self.refused(
                request,
                413,
                _("The file is larger than {mb} MB; please send a smaller one.").format(
                    mb=limit_mb
                ),
            )
        name = safe_name(file.filename or "file")
        mime = evidence_type(name, data)
        if mime is None:
            return self.refused(
                request,
                415,
                _(
                    "Please send a picture (JPEG, PNG, GIF, WebP, HEIC) or a document "
                    "(PDF, Word, Excel, text)."
                ),
            )
        digest, path = await asyncio.to_thread(keep_upload, self.uploads, data)
        payload: dict[str, Any] = {k: v for k, v in fields.items() if isinstance(v, str)}
        payload |= {
            "kind": "file",
            "file": {
                "name": name,
                "mime": mime,
                "size": len(data),
                "sha256": digest,
                "path": str(path),
            },
        }
        return await self._take(request, payload, after)

    async def _take(self, request: Request, payload: dict[str, Any], after: int | None) -> Response:
        """Hands the message to the bot, which stores it raw and its answers in one
        transaction; 200 only then, with the messages after `after`: the answer."""
        _ = self.texts(request, payload.get("lang"))
        conversation = self.tokens.conversation_of(self.token_of(request))
        if conversation is None:
            return self.refused(
                request, 401, _("This conversation has ended; please reload the page.")
            )
        if not valid_message_id(payload.get("id")):
            return self.refused(
                request, 400, _("This message could not be read; please reload the page.")
            )
        try:
            check(payload)
        except Unreadable:
            await self._keep_unreadable(conversation, payload)
            return self.refused(
                request, 400, _("This message could not be read; please reload the page.")
            )
        now = self.context.clock.now()
        if not self.per_conversation.allow(conversation, now):
            self.context.count_inbound(CHANNEL, "refused")
            return self.refused(
                request,
                429,
                _("You are sending messages very fast; please wait a moment."),
                retry_after=5,
            )
        key = f"{conversation}:{payload['id']}"
        inbound = to_inbound(conversation, key, payload, now)
        try:
            # The bot records the message (raw, under its key) in the transaction that
            # answers it, and recognises one it already has: a retry changes nothing.
            await self.context.handle(inbound)
        except Exception as error:
            return self._unavailable(request, error, payload.get("lang"))
        # The answers were stored with it (the channel's messages are delivered so).
        self.watch.wake(frozenset({conversation}))
        self.context.count_inbound(CHANNEL, "stored")
        entries: list[dict[str, Any]] = []
        if after is not None:
            try:
                entries = [
                    entry_json(e) for e in await self.transcript.since(CHANNEL, conversation, after)
                ]
            except Exception as error:
                # Stored and answered all the same: the stream brings the answer.
                log.warning("web chat answer not read back (%s)", type(error).__name__)
        return JSONResponse({"ok": True, "entries": entries})

    async def _keep_unreadable(self, conversation: str, payload: dict[str, Any]) -> None:
        """A payload the page would never send is kept raw (and counted), never read."""
        self.context.count_inbound(CHANNEL, "undecodable")
        key = f"{conversation}:{payload.get('id')}"
        try:
            await self.context.raw_updates.keep(CHANNEL, [(key, payload)], lambda _p: conversation)
            await self.context.raw_updates.mark(CHANNEL, key, "undecodable")
        except Exception as error:
            log.warning("an unreadable web chat message not kept (%s)", type(error).__name__)

    def _unavailable(self, request: Request, error: Exception, lang: object = None) -> Response:
        log.warning("web chat request not taken now (%s)", type(error).__name__)
        _ = self.texts(request, lang)
        return self.refused(
            request,
            503,
            _(
                "We cannot take messages right now; yours is kept on this page and sent "
                "again in a moment."
            ),
            retry_after=2,
        )

    async def seen(self, request: Request) -> Response:
        conversation = self.tokens.conversation_of(self.token_of(request))
        if conversation is None:
            return Response(status_code=401)
        body = await _json(request)
        try:
            await self.visitors.seen(
                conversation, self.context.clock.now(), _shown_upto(body.get("id"))
            )
        except Exception as error:
            return self._unavailable(request, error)
        return Response(status_code=204)

    async def events(self, request: Request) -> Response:
        conversation = self.tokens.conversation_of(self.token_of(request))
        if conversation is None:
            return Response(status_code=401)
        after = _shown_upto(request.query_params.get("after")) or 0
        return StreamingResponse(
            self._stream(conversation, after),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
        )

    async def _stream(self, conversation: str, after: int) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + stream_seconds()
        yield "retry: 2000\n\n"
        with self.watch.listen(conversation) as listener:
            woken = True  # at the start: what came since `after`
            while not self.watch.stopped and loop.time() < ends:
                if not woken:
                    # Neither a read nor a write: a thousand idle pages would keep the
                    # database busy. The page says what it showed (`seen`) when it shows it.
                    yield ": keep-alive\n\n"
                else:
                    for entry in listener.take():
                        yield _event(entry)
                    try:
                        entries = await self.transcript.since(CHANNEL, conversation, after)
                    except Exception:
                        entries = []
                    for stored in entries:
                        after = stored.id
                        yield _event(entry_json(stored))
                woken = await listener.wait(HEARTBEAT)


def _shown_upto(value: object) -> int | None:
    """A stored message's id as the page sends it (`after`, `seen`'s `id`): a JSON
    number or a form's or query's digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdecimal():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _event(entry: dict[str, Any]) -> str:
    return f"data: {json.dumps(entry, ensure_ascii=False)}\n\n"


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _remember(response: Response, request: Request, token: str) -> None:
    """The token in an HttpOnly cookie on /chat/, for the page itself (a frame on
    another site has the widget's storage instead: its cookies may be blocked)."""
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=180 * 86400,
        path="/chat/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
