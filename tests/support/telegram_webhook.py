"""Webhook delivery for the Bot API stand-in (`telegram_api.FakeBotApi`), as Telegram does it.

While a webhook is set, every update is POSTed as JSON to its URL, with the header
`X-Telegram-Bot-Api-Secret-Token` when a secret was given. An answer other than 2xx,
a refused or dropped connection or a timeout is an error: the update is tried again
after a growing delay (`Retry`), and `getWebhookInfo` reports the last error. Updates
of one chat go one at a time in update_id order (the next waits until the one before
was accepted); different chats go in parallel, at most `max_connections` at once.
Each attempt is recorded (`Delivery`) so tests can say "503, then accepted once".
"""

from __future__ import annotations

import asyncio
import bisect
import http
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What Telegram delivers when allowed_updates is empty: everything but these three.
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# A Telegram webhook server's address, as a reverse proxy reports it in X-Forwarded-For.
TELEGRAM_ADDRESS = "149.154.167.220"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Retry:
    """How a failed delivery is tried again: after `first` seconds, then `factor` times
    longer each time up to `cap`; Telegram's own delays are longer, tests want short
    ones. `max_attempts` (None: until the webhook is deleted) gives an update up, as
    Telegram does after "a reasonable amount of attempts"."""

    first: float = 0.05
    factor: float = 2.0
    cap: float = 1.0
    timeout: float = 10.0  # seconds an attempt may take before it counts as failed
    max_attempts: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One attempt to POST an update: the HTTP status, or None and why the connection failed."""

    update: dict[str, Any] = field(repr=False)
    url: str
    status: int | None
    error: str | None
    started: float  # time.monotonic()
    ended: float

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookError(Exception):
    """setWebhook's parameters are wrong; the text is Telegram's description."""


def update_kind(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def chat_of(update: dict[str, Any]) -> int | None:
    """The chat whose updates must not overtake each other; None for updates of no chat."""
    body = update[update_kind(update)]
    if not isinstance(body, dict):
        return None
    chat = body.get("chat") or (body.get("message") or {}).get("chat")
    if chat is not None:
        return int(chat["id"])
    sender = body.get("from")
    return int(sender["id"]) if sender else None


class Webhook:
    """A registered webhook and the deliveries to it. `changed` is the stand-in's
    condition: every attempt notifies it, so `FakeBotApi.wait_until` sees deliveries."""

    def __init__(
        self,
        changed: asyncio.Condition,
        deliveries: list[Delivery],
        retry: Retry,
        routes: dict[str, str],
    ) -> None:
        self.url = ""
        self.secret_token: str | None = None
        self.allowed_updates: list[str] = []
        self.max_connections = 40
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.in_flight = 0
        self.peak_in_flight = 0  # the most deliveries that were ever under way at once
        self._changed, self._deliveries, self._retry, self._routes = (
            changed,
            deliveries,
            retry,
            routes,
        )
        self._queues: dict[int | None, list[dict[str, Any]]] = {}  # per chat, by update_id
        self._current: dict[int | None, dict[str, Any]] = {}  # being delivered, per chat
        self._lanes: dict[int | None, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def configure(self, params: dict[str, Any]) -> None:
        """setWebhook's parameters, checked as Telegram checks them."""
        url = str(params.get("url") or "")
        parts = urlsplit(url)
        # Telegram takes only https; loopback http is the stand-in's allowance for tests.
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
            raise WebhookError(
                "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token") or None
        if secret is not None and not (
            1 <= len(str(secret)) <= 256
            and all(c.isascii() and (c.isalnum() or c in "_-") for c in str(secret))
        ):
            raise WebhookError("Bad Request: secret token contains unallowed characters")
        connections = int(params.get("max_connections") or 40)
        if not 1 <= connections <= 100:
            raise WebhookError("Bad Request: bad webhook: max_connections must be 1-100")
        allowed = params.get("allowed_updates")
        self.url, self.secret_token, self.max_connections = url, secret, connections
        if allowed is not None:  # omitted: the previous setting stays, as in Telegram
            self.allowed_updates = list(allowed)

    def info(self) -> dict[str, Any]:
        """getWebhookInfo's WebhookInfo."""
        info: dict[str, Any] = {
            "url": self.url,
            "has_custom_certificate": False,
            "pending_update_count": self.pending_count(),
            "max_connections": self.max_connections,
        }
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        if self.allowed_updates:
            info["allowed_updates"] = self.allowed_updates
        return info

    def pending_count(self) -> int:
        return sum(len(queue) for queue in self._queues.values()) + len(self._current)

    def wants(self, update: dict[str, Any]) -> bool:
        kind = update_kind(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in NOT_BY_DEFAULT

    def enqueue(self, update: dict[str, Any]) -> None:
        """Queues an update behind its chat's earlier ones and starts that chat's lane."""
        if not self.wants(update):
            return
        chat = chat_of(update)
        bisect.insort(self._queues.setdefault(chat, []), update, key=lambda u: int(u["update_id"]))
        if chat not in self._lanes:
            self._lanes[chat] = asyncio.create_task(self._lane(chat))

    def drop_pending(self) -> None:
        """drop_pending_updates: forgets the queued updates (not those under way)."""
        for queue in self._queues.values():
            queue.clear()

    async def close(self) -> list[dict[str, Any]]:
        """Stops delivering; returns the updates not accepted yet, oldest first."""
        lanes = list(self._lanes.values())
        for lane in lanes:
            lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        left = [*self._current.values(), *(u for q in self._queues.values() for u in q)]
        self._queues, self._current, self._lanes = {}, {}, {}
        return sorted(left, key=lambda u: int(u["update_id"]))

    async def _lane(self, chat: int | None) -> None:
        """Delivers one chat's updates one after the other; ends when its queue is empty
        (a later update of the chat starts a new lane)."""
        while self._queues.get(chat):
            update = self._current[chat] = self._queues[chat].pop(0)
            await self._deliver(update)
            del self._current[chat]
        self._queues.pop(chat, None)
        del self._lanes[chat]

    async def _deliver(self, update: dict[str, Any]) -> None:
        """POSTs the update until it is accepted (or given up)."""
        delay, attempts = self._retry.first, 0
        while True:
            attempts += 1
            delivery = await self._attempt(update)
            if delivery.accepted:
                return
            if self._retry.max_attempts is not None and attempts >= self._retry.max_attempts:
                return
            # Telegram's back-off before the next try, not a test waiting for something.
            await asyncio.sleep(delay)
            delay = min(delay * self._retry.factor, self._retry.cap)

    async def _attempt(self, update: dict[str, Any]) -> Delivery:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.max_connections)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        url, headers = self._target()
        started = time.monotonic()
        status, error = None, None
        try:
            status, error = await self._post(url, headers, update)
        finally:
            delivery = Delivery(update, url, status, error, started, time.monotonic())
            async with self._changed:
                self.in_flight -= 1
                self._deliveries.append(delivery)
                if not delivery.accepted:
                    self.last_error_date = int(time.time())
                    self.last_error_message = error or _wrong_response(status)
                self._changed.notify_all()
        return delivery

    def _target(self) -> tuple[str, dict[str, str]]:
        """Where the POST goes and its headers. A public URL routed to a local server
        (`FakeBotApi.route`) arrives as through a TLS-terminating proxy."""
        headers = {"Content-Type": "application/json"}
        if self.secret_token:
            headers[SECRET_HEADER] = self.secret_token
        for public, local in self._routes.items():
            if self.url.startswith(public):
                headers["X-Forwarded-For"] = TELEGRAM_ADDRESS
                headers["X-Forwarded-Proto"] = urlsplit(public).scheme
                return local + self.url[len(public) :], headers
        return self.url, headers

    async def _post(
        self, url: str, headers: dict[str, str], update: dict[str, Any]
    ) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url,
                data=json.dumps(update, ensure_ascii=False).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._retry.timeout),
                allow_redirects=False,  # Telegram does not follow redirects either
            ) as response:
                await response.read()
                return response.status, None
        except TimeoutError:
            return None, "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return None, "Connection refused"
        except aiohttp.ClientError:
            return None, "Connection reset by peer"


def _wrong_response(status: int | None) -> str:
    try:
        phrase = http.HTTPStatus(status or 0).phrase
    except ValueError:
        phrase = ""
    return f"Wrong response from the webhook: {status} {phrase}".rstrip()
