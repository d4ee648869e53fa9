"""Security headers on every response of a group of routes (the chat's, the
complainant pages', the staff web's): the Content-Security-Policy and its companions;
the pages may hold personal data, so no cache keeps them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    def __init__(self, app: ASGIApp, csp: str, frame_options: str | None = None) -> None:
        self.app = app
        self.headers = {
            b"content-security-policy": csp.encode(),
            b"x-content-type-options": b"nosniff",
            b"referrer-policy": b"no-referrer",
            b"cache-control": b"no-store",
        }
        if frame_options is not None:  # for browsers older than frame-ancestors
            self.headers[b"x-frame-options"] = frame_options.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers += [(k, v) for k, v in self.headers.items() if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
