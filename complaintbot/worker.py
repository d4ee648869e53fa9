"""One worker: the channels, the dispatcher, the sweep and (for `serve`) the HTTP server,
from start to a graceful stop.

An interactive channel (the console) delivers each answer itself (`settle`) before it
reads on; otherwise the dispatcher runs in the background, woken by each commit.

On stop: readiness fails at once, the HTTP server and the channels stop taking input
and finish what they hold, then the sweep and the dispatcher, all within
SHUTDOWN_GRACE_SECONDS; whatever is left (an update not handled, a claimed send) is
released for another worker or the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Info

import web.app
from bot.i18n import Translator
from channels.spec import Channel, ChannelContext, OpenChannel
from channels.web.keys import site_key
from complaintbot.core import Core
from complaintbot.metrics import Metrics
from complaintbot.server import HttpServer, WorkerState, build_app
from complaintbot.settings import Settings
from delivery.dispatcher import Dispatcher
from delivery.ports import SendBudget
from delivery.sending import ChannelPacing
from reporting.tally import Customers
from scheduler.sweeps import Sweeper
from storage.anchors import write_anchor
from storage.mail_cursors import SqlLeadership, SqlMailCursors
from storage.raw_updates import SqlRawUpdates
from storage.send_budget import SqlSendBudget
from storage.wakeups import INBOUND, OUTBOX, listening
from storage.web_chat import SqlTranscript, SqlVisitors
from web.context import PublicSite, WebContext

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        settings: Settings,
        core: Core,
        chosen: list[Channel],
        sock: socket.socket | None = None,
        listening: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.core = core
        self.interactive = any(channel.interactive for channel in chosen)
        self.served = [channel.name for channel in chosen if channel.served]
        self.listening = listening
        self.metrics = Metrics(core.clock, channels=[channel.name for channel in chosen])
        Info("complaintbot_worker", "This worker.", registry=self.metrics.registry).info(
            {"worker": settings.worker_id}
        )
        self.state = WorkerState(settings.worker_id)
        self.raw_updates = SqlRawUpdates(core.engine, core.clock)
        self.leadership = SqlLeadership(core.engine)
        context = ChannelContext(
            handle=core.bot.handle_safely,
            clock=core.clock,
            cursors=self.metrics.checked_cursors(SqlMailCursors(core.engine, core.clock)),
            leadership=self.leadership,
            command_menu=core.bot.command_menu,
            settle=self.settle,
            running=frozenset(channel.name for channel in chosen),
            raw_updates=self.raw_updates,
            count_inbound=self.metrics.inbound,
            gettext=lambda locale: Translator(locale).gettext,
            transcript=SqlTranscript(core.engine),
            visitors=SqlVisitors(core.engine),
        )
        self.opened: dict[str, OpenChannel] = {
            channel.name: channel.open(settings, context) for channel in chosen
        }
        pacing = {n: c.pacing for n, c in self.opened.items() if c.pacing is not None}
        self.dispatcher = Dispatcher(
            core.outbox,
            {name: channel.sender for name, channel in self.opened.items()},
            core.clock,
            on_failure=None if self.interactive else core.bot.report_undelivered,
            pacing=pacing,
            give_up_after=settings.DELIVERY_GIVE_UP_AFTER,
            # A pass hands what it claimed to its conversations' senders and looks again
            # as soon as something new is queued: no one waits for another's send to end.
            linger=0.0,
            observe=self.metrics.sent,
            budget=self._shared_budget(pacing),
        )
        self.sweeper = Sweeper(self.sweep, core.sweep_interval)
        self._settling = asyncio.Lock()
        self.http = None if sock is None else self._http(sock)

    def _shared_budget(self, pacing: dict[str, ChannelPacing]) -> SendBudget | None:
        """On PostgreSQL every worker dispatches, all taking from the channels' budgets
        in the database; on SQLite one process does, with its budgets in memory."""
        if self.core.engine.dialect.name != "postgresql":
            return None
        return SqlSendBudget(self.core.engine, pacing)

    def _http(self, sock: socket.socket) -> HttpServer:
        app = build_app(
            engine=self.core.engine,
            clock=self.core.clock,
            state=self.state,
            metrics=self.metrics,
            metrics_token=self.settings.METRICS_TOKEN,
            webhooks=[c.webhook for c in self.opened.values() if c.webhook is not None],
            pages=[
                *(route for channel in self.opened.values() for route in channel.pages),
                *web.app.routes(self._web_context()),
            ],
        )
        return HttpServer(
            app,
            sock,
            trusted_proxies=self.settings.TRUSTED_PROXIES,
            grace_seconds=self.settings.SHUTDOWN_GRACE_SECONDS,
        )

    def _web_context(self) -> WebContext:
        settings = self.settings
        customers = settings.CUSTOMER_COUNT
        return WebContext(
            engine=self.core.engine,
            bot=self.core.bot,
            clock=self.core.clock,
            zone=settings.zone,
            calendar=self.core.bot.config.followup.calendar,
            data_dir=settings.DATA_DIR,
            default_locale=settings.DEFAULT_LOCALE,
            satisfied_threshold=settings.SATISFIED_THRESHOLD,
            customers=None if customers is None else Customers(customers, "CUSTOMER_COUNT"),
            session_hours=settings.STAFF_SESSION_HOURS,
            anchor_dir=settings.AUDIT_ANCHOR_DIR,
            public=self._public_site(),
        )

    def _public_site(self) -> PublicSite | None:
        settings = self.settings
        if not settings.WEB_ENABLED:
            return None
        return PublicSite(
            base_url=settings.public_base_url(settings.HOST, settings.PORT),
            allowed_origins=settings.web_allowed_origins,
            max_upload_mb=settings.WEB_MAX_UPLOAD_MB,
            secret_key=site_key(settings.WEB_SECRET_KEY, settings.DATA_DIR),
            requests_per_minute_per_ip=settings.WEB_REQUESTS_PER_MINUTE_PER_IP,
            open_drafts_per_ip=settings.WEB_OPEN_DRAFTS_PER_IP,
            mail_channel=self.core.bot.config.mail_channel,
            retention_days=settings.RETENTION_DAYS,
            notice=self.core.bot.config.privacy,
        )

    async def settle(self) -> None:
        """Delivers what is queued now (the console, before it reads on). One at a
        time: a pass the sweep started must not make the console's return early."""
        async with self._settling:
            while await self.dispatcher.run_once():
                pass

    async def sweep(self) -> None:
        # One worker sweeps at a time; whichever runs its schedule next when that one
        # has stopped or died takes over.
        async with self.leadership.hold("sweep") as leading:
            if not leading:
                return
            began = time.perf_counter()
            swept = await self.core.bot.sweep()
            self.metrics.swept(time.perf_counter() - began, self.core.bot.timers.last_fired)
            if self.core.retention is not None:
                erased = await self.core.retention.sweep()
                if erased:
                    log.info("personal data of %d archived case(s) erased", len(erased))
            await self._anchor()
            if swept and self.interactive:
                await self.settle()

    async def _anchor(self) -> None:
        """The day's anchor file (AUDIT_ANCHOR_DIR), written by the first sweep of each
        local day; a failure is logged and tried again at the next sweep."""
        directory = self.settings.AUDIT_ANCHOR_DIR
        if directory is None:
            return
        now = self.core.clock.now()
        day = now.astimezone(self.settings.zone).date()
        try:
            await write_anchor(self.core.engine, directory, day, now)
        except OSError:
            log.exception("writing the audit anchor to %s failed", directory)

    async def run(self, stop: asyncio.Event | None) -> None:
        """Until `stop` is set (or SIGINT/SIGTERM); the console until its input ends."""
        until = None if self.interactive else (stop or _signalled())
        if until is not None:
            self.core.repository.on_commit(self.dispatcher.wake)
        async with contextlib.AsyncExitStack() as running:
            try:
                sending = await self._start(running, background=until is not None)
                if until is None:
                    await asyncio.gather(*(c.finished() for c in self.opened.values()))
                else:
                    await until.wait()
                await self._stop(sending)
            finally:
                self.state.stopping = True
                await self.sweeper.shutdown()
                for channel in reversed(self.opened.values()):
                    await channel.close()

    async def _start(
        self, running: contextlib.AsyncExitStack, *, background: bool
    ) -> asyncio.Task[None] | None:
        wakeups = {INBOUND: self.raw_updates.wake, OUTBOX: self.dispatcher.wake}
        await running.enter_async_context(listening(self.core.engine, wakeups))
        if self.http is not None:
            await self.http.start()
            running.push_async_callback(self.http.stop)
            log.info("listening on %s port %d", self.settings.HOST, self.http.port)
            if self.listening is not None:
                self.listening(self.http.port)
        for channel in self.opened.values():
            await channel.start()
        await self.core.bot.open_desk()
        sending = asyncio.create_task(self.dispatcher.run()) if background else None
        self.sweeper.start()
        self.state.started = True
        log.info("worker %s started", self.settings.worker_id)
        return sending

    async def _stop(self, sending: asyncio.Task[None] | None) -> None:
        self.state.stopping = True
        log.info("worker %s stopping", self.settings.worker_id)
        deadline = asyncio.get_running_loop().time() + self.settings.SHUTDOWN_GRACE_SECONDS
        # Channels served by HTTP first: their open streams end, so the server's
        # drain waits only for requests in progress.
        for name in self.served:
            await _within(self.opened[name].stop(), deadline, "a channel's input")
        if self.http is not None:
            await self.http.stop()
        for name, channel in reversed(self.opened.items()):
            if name not in self.served:
                await _within(channel.stop(), deadline, "a channel's input")
        await _within(self.sweeper.shutdown(), deadline, "the sweep")
        if sending is not None:
            self.dispatcher.stop()
            await _within(sending, deadline, "the outbox pass")


async def _within(work: Awaitable[object], deadline: float, what: str) -> None:
    """Waits for `work` until `deadline` (the loop's time); then lets it go (cancelled):
    whatever it held is released, for another worker or the next start."""
    left = deadline - asyncio.get_running_loop().time()
    try:
        await asyncio.wait_for(work, max(left, 0.1))
    except TimeoutError:
        log.warning("%s did not finish within SHUTDOWN_GRACE_SECONDS; left to the next", what)


def _signalled() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop
