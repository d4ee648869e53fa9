"""The HTTP side of `complaintbot serve`: one Starlette application.

- `GET /healthz`: the process is alive (200 while it runs, also while it drains).
- `GET /readyz`: it takes work: the database answers within `READY_TIMEOUT`, its schema
  is current, the configured channels have started, the worker is not stopping, and
  (PostgreSQL) this worker's clock is within `MAX_SKEW` of the database's, so times on
  the record agree whichever worker wrote them. 503 with the reasons otherwise.
- `GET /metrics`: Prometheus' text format (`complaintbot/metrics.py`); with
  `METRICS_TOKEN` set only for `Authorization: Bearer <token>`.
- Each channel's webhook (`channels.spec.Webhook`): the channel answers the POST.
- `pages`: the staff web and the API (`web.app.routes`), on the same application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.ports import Clock
from channels.spec import Webhook
from complaintbot.metrics import Metrics, authorized
from storage import migrate
from storage.health import database_time

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0  # seconds the database has to answer a readiness check
MAX_SKEW = 2.0  # seconds a worker's clock may differ from the database's


@dataclass
class WorkerState:
    """What readiness reads: set by the worker as it starts and stops."""

    worker_id: str
    started: bool = False
    stopping: bool = False


def build_app(
    *,
    engine: AsyncEngine,
    clock: Clock,
    state: WorkerState,
    metrics: Metrics,
    metrics_token: str | None,
    webhooks: Sequence[Webhook] = (),
    pages: Sequence[BaseRoute] = (),
) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "alive", "worker": state.worker_id})

    async def readyz(_request: Request) -> Response:
        reasons = await not_ready(engine, clock, state)
        if reasons:
            return JSONResponse(
                {"status": "not ready", "worker": state.worker_id, "reasons": reasons},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "worker": state.worker_id})

    async def metrics_page(request: Request) -> Response:
        if not authorized(request.headers.get("authorization"), metrics_token):
            return JSONResponse(
                {"error": "METRICS_TOKEN is set: send Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        await metrics.refresh(engine)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]
    routes += [Route(hook.path, _webhook_endpoint(hook), methods=["POST"]) for hook in webhooks]
    return Starlette(routes=[*routes, *pages])


def _webhook_endpoint(hook: Webhook) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        status, payload = await hook.receive(dict(request.headers), body)
        if status in (400, 401):
            # The client's address as the trusted proxy saw it (TRUSTED_PROXIES).
            client = request.client.host if request.client else "?"
            log.warning("webhook request from %s refused (%d)", client, status)
        return JSONResponse(payload, status_code=status)

    return endpoint


async def not_ready(engine: AsyncEngine, clock: Clock, state: WorkerState) -> list[str]:
    """Why this worker should not be sent work now; empty when it should."""
    if state.stopping:
        return ["stopping"]
    reasons = []
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            database_now = await database_time(engine)
            current = await migrate.is_up_to_date(engine)
    except Exception as error:
        reason = "no answer in time" if isinstance(error, TimeoutError) else type(error).__name__
        reasons.append(f"database unreachable ({reason})")
    else:
        if not current:
            reasons.append("database schema out of date: run `complaintbot db upgrade`")
        if database_now is not None:
            skew = abs((clock.now() - database_now).total_seconds())
            if skew > MAX_SKEW:
                reasons.append(f"clock {skew:.1f} s off the database's")
    if not state.started:
        reasons.append("channels not started")
    return reasons


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the worker decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound socket for HOST:PORT; raises OSError when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off only on
    # connections whose socket says TCP, and with it on, every response after a
    # connection's first waited some 40 ms for the client's delayed acknowledgement.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """The application on uvicorn, on an already bound socket, until `stop`."""

    def __init__(
        self,
        app: Starlette,
        sock: socket.socket,
        *,
        trusted_proxies: str,
        grace_seconds: float,
    ) -> None:
        self.sock = sock
        config = uvicorn.Config(
            app,
            proxy_headers=True,
            forwarded_allow_ips=trusted_proxies or "127.0.0.1",
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, int(grace_seconds)),
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise OSError("the HTTP server stopped at start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stops taking connections and lets requests in progress finish."""
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception, SystemExit):
                await self._task
            self._task = None
