"""The web chat for one run: its routes under /chat/ (`channels.web.chat`) and its
sender. Nothing to connect to: a message is delivered once it is on the record, where
the visitor's page reads it (live, by the event stream, or at the next visit). The
bot's replies are stored as sent when written (`Channel.on_record`); the sender takes
what reaches the outbox all the same (queued before replies were stored so) and hands
it to the conversation's open streams in this worker at once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.messages import Outbound
from bot.notice import BUILTIN_BASIS, PrivacyNotice
from channels.spec import ChannelContext, Webhook
from channels.web import CHANNEL
from channels.web.chat import WebChat
from channels.web.headers import SecurityHeaders
from channels.web.keys import site_key
from channels.web.page import STATIC, chat_csp, chat_page
from channels.web.tokens import ConversationTokens
from channels.web.watch import TranscriptWatch
from delivery.sending import ChannelPacing, Sent

log = logging.getLogger(__name__)

UPLOAD_SLACK = 64 * 1024  # a form's other fields and boundaries around the file


class WebSettings(Protocol):
    HOST: str
    PORT: int
    DATA_DIR: Path
    WEB_SECRET_KEY: str | None
    DEFAULT_LOCALE: str
    RETENTION_DAYS: int | None
    WEB_MAX_UPLOAD_MB: int
    WEB_REQUESTS_PER_MINUTE_PER_IP: int
    WEB_OPEN_DRAFTS_PER_IP: int
    PRIVACY_NOTICE_URL: str | None

    @property
    def web_allowed_origins(self) -> tuple[str, ...]: ...

    def public_base_url(self, host: str, port: int) -> str: ...

    def privacy_notice_version(self, builtin_text: str) -> str: ...


class WebSender:
    """Takes an outbound message for the record (the outbox writes it to the messages
    table as sent, under the id given here) and hands it to the conversation's open
    streams in this worker."""

    def __init__(self, watch: TranscriptWatch | None) -> None:
        self.watch = watch

    async def send(self, outbound: Outbound) -> Sent:
        ref = f"w{uuid.uuid4().hex[:16]}"
        if self.watch is not None:
            payload = outbound.to_payload()
            self.watch.push(
                outbound.conversation,
                {
                    "id": None,
                    "dir": "out",
                    "ref": ref,
                    "text": payload["text"],
                    "buttons": payload["buttons"],
                    "contact": payload["contact_button"],
                    "files": [{"name": f.name, "size": f.size} for f in outbound.files],
                    "edit": outbound.edit,
                },
            )
        return Sent((ref,))


class RunningWeb:
    def __init__(self, settings: WebSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.watch = (
            None if context.transcript is None else TranscriptWatch(context.transcript, CHANNEL)
        )
        self._sender = WebSender(self.watch)
        self._stopped = asyncio.Event()

    @property
    def sender(self) -> WebSender:
        return self._sender

    @property
    def pacing(self) -> ChannelPacing | None:
        return None

    @property
    def webhook(self) -> Webhook | None:
        return None

    @property
    def pages(self) -> Sequence[BaseRoute]:
        context, settings = self.context, self.settings
        if self.watch is None or context.transcript is None or context.visitors is None:
            return ()
        max_upload = settings.WEB_MAX_UPLOAD_MB * 1024 * 1024
        chat = WebChat(
            context,
            context.transcript,
            context.visitors,
            self.watch,
            ConversationTokens(site_key(settings.WEB_SECRET_KEY, settings.DATA_DIR), context.clock),
            uploads=settings.DATA_DIR / "web_uploads",
            max_upload_bytes=max_upload,
            per_address=settings.WEB_REQUESTS_PER_MINUTE_PER_IP,
            open_drafts=settings.WEB_OPEN_DRAFTS_PER_IP,
        )
        origins = settings.web_allowed_origins
        notice = PrivacyNotice(
            settings.privacy_notice_version(BUILTIN_BASIS), settings.PRIVACY_NOTICE_URL
        )
        base_url = settings.public_base_url(settings.HOST, settings.PORT)

        async def page(request: Request) -> Response:
            return chat_page(
                request,
                context.gettext,
                default_locale=settings.DEFAULT_LOCALE,
                notice=notice,
                notice_page=notice.where(base_url),
                retention_days=settings.RETENTION_DAYS,
                max_upload_mb=settings.WEB_MAX_UPLOAD_MB,
                allowed_origins=origins,
            )

        async def widget(_request: Request) -> Response:
            # Any site may load the script; only WEB_ALLOWED_ORIGINS may frame the chat.
            return FileResponse(
                STATIC / "widget.js",
                media_type="text/javascript",
                headers={"Cache-Control": "public, max-age=300"},
            )

        async def to_page(_request: Request) -> Response:
            return RedirectResponse("/chat/", 308)

        api = [
            Route("/session", chat.session, methods=["POST"], max_body_size=16 * 1024),
            Route("/send", chat.send, methods=["POST"], max_body_size=64 * 1024),
            Route(
                "/upload", chat.upload, methods=["POST"], max_body_size=max_upload + UPLOAD_SLACK
            ),
            Route("/events", chat.events, methods=["GET"]),
            Route("/seen", chat.seen, methods=["POST"], max_body_size=1024),
        ]
        cors = Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-chat-token"],
            max_age=600,
        )
        headers = Middleware(SecurityHeaders, csp=chat_csp(origins))
        return [
            Route("/chat", to_page),
            Route("/chat/widget.js", widget),
            Mount(
                "/chat",
                routes=[
                    Route("/", page),
                    Mount("/api", routes=api, middleware=[cors]),
                    Mount("/static", StaticFiles(directory=STATIC)),
                ],
                middleware=[headers],
            ),
        ]

    async def start(self) -> None:
        if self.watch is not None:
            self.watch.start()
        base = self.settings.public_base_url(self.settings.HOST, self.settings.PORT)
        log.info(
            'web chat at %s/chat/; embed it with <script src="%s/chat/widget.js" async></script>',
            base,
            base,
        )

    async def finished(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Ends the open event streams (the pages open them again elsewhere)."""
        self._stopped.set()
        if self.watch is not None:
            await self.watch.stop()

    async def close(self) -> None:
        await self.stop()
