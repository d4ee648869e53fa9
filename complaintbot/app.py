"""Wiring: builds the bot with its storage and the configured channels, and runs them
until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.desk import DeskConfig
from bot.followup import FollowUpConfig
from bot.i18n import Translator
from bot.limits import InboundLimit
from bot.ports import Clock, SystemClock
from bot.router import BotConfig, ComplaintBot
from channels import registry
from channels.spec import Channel, ChannelContext, ChannelStartError
from complaintbot.settings import Settings
from delivery.dispatcher import Dispatcher
from scheduler.calendar import build_calendar
from scheduler.sla import PolicyError, load_policy
from scheduler.sweeps import Sweeper
from storage import migrate
from storage.database import create_engine, is_sqlite
from storage.files import EvidenceFiles
from storage.mail_cursors import SqlLeadership, SqlMailCursors
from storage.outbox import SqlOutbox
from storage.raw_updates import SqlRawUpdates
from storage.repository import SqlRepository

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start; the message says what to do."""


@dataclass
class Core:
    engine: AsyncEngine
    bot: ComplaintBot
    repository: SqlRepository
    outbox: SqlOutbox
    sweep_interval: float
    clock: Clock


@asynccontextmanager
async def open_core(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Core]:
    """Storage and the bot, with the schema checked (and brought up to date on SQLite);
    `clock` (the system's by default) is the time everything started from it uses."""
    clock = clock or SystemClock()
    engine = open_engine(settings)
    try:
        await ensure_schema(engine, settings.DATABASE_URL)
        repository = SqlRepository(engine, settings.DATA_DIR, clock)
        desk = None
        if settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_AGENT_CHAT_ID is not None:
            desk = DeskConfig(
                channel="telegram",
                conversation=str(settings.TELEGRAM_AGENT_CHAT_ID),
                agent_ids=settings.agent_ids,
                supervisor_ids=settings.supervisor_ids,
                show_agent_names=settings.AGENT_DISPLAY_NAME == "real",
            )
        config = BotConfig(
            case_prefix=settings.CASE_PREFIX,
            timezone=settings.zone,
            default_locale=settings.DEFAULT_LOCALE,
            desk=desk,
            followup=followup_config(settings),
            mail_auto_reply_limit=settings.MAIL_AUTO_REPLY_LIMIT,
            inbound_limit=InboundLimit(
                settings.INBOUND_MESSAGES_PER_MINUTE, settings.INBOUND_BURST
            ),
        )
        outbox = SqlOutbox(engine, settings.DATA_DIR)
        yield Core(
            engine,
            ComplaintBot(repository, config, clock),
            repository,
            outbox,
            settings.SWEEP_INTERVAL_SECONDS,
            clock,
        )
    finally:
        await engine.dispose()


def open_engine(settings: Settings) -> AsyncEngine:
    """The database's engine; a SQLite file that cannot be made stops start-up."""
    try:
        return create_engine(settings.DATABASE_URL)
    except OSError as error:
        _ = Translator(settings.DEFAULT_LOCALE).gettext
        if isinstance(error, FileNotFoundError) and error.filename:
            missing = _("The directory of the database file in DATABASE_URL does not exist: {path}")
            raise StartupError(missing.format(path=Path(error.filename).parent)) from None
        raise StartupError(
            _("Cannot open the database file of DATABASE_URL, {path}: {reason}").format(
                path=error.filename, reason=error.strerror
            )
        ) from None


def followup_config(settings: Settings) -> FollowUpConfig:
    """The calendar, the SLA policy and the survey timings; a broken file stops start-up."""
    try:
        calendar = build_calendar(
            settings.CALENDAR,
            settings.zone,
            settings.working_hours,
            settings.lunch_break,
            settings.CALENDAR_OVERRIDE_FILE,
        )
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise StartupError(
            f"CALENDAR_OVERRIDE_FILE {settings.CALENDAR_OVERRIDE_FILE}: {error}"
        ) from None
    except OSError as error:
        raise StartupError(f"CALENDAR_OVERRIDE_FILE cannot be read: {error}") from None
    try:
        policy = load_policy(settings.SLA_POLICY_FILE)
    except PolicyError as error:
        raise StartupError(str(error)) from None
    return FollowUpConfig(
        policy=policy,
        calendar=calendar,
        survey_delay=timedelta(seconds=settings.SURVEY_DELAY_SECONDS),
        survey_reminder=timedelta(seconds=settings.SURVEY_REMINDER_SECONDS),
        auto_archive=timedelta(seconds=settings.AUTO_ARCHIVE_SECONDS),
        satisfied_threshold=settings.SATISFIED_THRESHOLD,
    )


async def ensure_schema(engine: AsyncEngine, url: str) -> None:
    try:
        up_to_date = await migrate.is_up_to_date(engine)
    except OSError as error:
        raise StartupError(f"Cannot reach the database in DATABASE_URL: {error}") from None
    except DBAPIError as error:
        raise StartupError(f"Cannot use the database in DATABASE_URL: {error.orig}") from None
    if up_to_date:
        return
    if is_sqlite(url):
        await migrate.upgrade(engine)
        return
    raise StartupError("The database schema is out of date; run `complaintbot db upgrade` first.")


async def run(
    settings: Settings, stop: asyncio.Event | None = None, *, clock: Clock | None = None
) -> None:
    """Runs the configured channels until `stop` is set (or SIGINT/SIGTERM); the console,
    when no channel is configured, until the end of its input."""
    chosen = registry.configured(settings)
    problems = registry.problems(settings)
    if problems:
        raise StartupError(problems[0])
    try:
        EvidenceFiles(settings.DATA_DIR).prepare()
    except OSError as error:
        _ = Translator(settings.DEFAULT_LOCALE).gettext
        raise StartupError(
            _("Cannot prepare DATA_DIR, {path}: {reason}").format(
                path=error.filename, reason=error.strerror
            )
        ) from None
    async with open_core(settings, clock) as core:
        try:
            await _serve(settings, core, chosen, stop)
        except ChannelStartError as error:
            raise StartupError(str(error)) from None


async def _serve(
    settings: Settings, core: Core, chosen: list[Channel], stop: asyncio.Event | None
) -> None:
    """Opens the channels, delivers their replies and sweeps until the run ends.

    An interactive channel (the console) delivers each answer itself (`settle`) before it
    reads on; otherwise the dispatcher runs in the background, woken by each commit.
    """
    interactive = any(channel.interactive for channel in chosen)
    # The console ends with its input; the others when told (a signal, or `stop`).
    until = None if interactive else (stop or _signalled())
    dispatcher: Dispatcher | None = None

    async def settle() -> None:
        assert dispatcher is not None
        while await dispatcher.run_once():
            pass

    leadership = SqlLeadership(core.engine)
    context = ChannelContext(
        handle=core.bot.handle_safely,
        clock=core.clock,
        cursors=SqlMailCursors(core.engine, core.clock),
        leadership=leadership,
        command_menu=core.bot.command_menu,
        settle=settle,
        running=frozenset(channel.name for channel in chosen),
        raw_updates=SqlRawUpdates(core.engine, core.clock),
    )
    opened = {channel.name: channel.open(settings, context) for channel in chosen}
    dispatcher = Dispatcher(
        core.outbox,
        {name: channel.sender for name, channel in opened.items()},
        core.clock,
        on_failure=None if interactive else core.bot.report_undelivered,
        pacing={n: c.pacing for n, c in opened.items() if c.pacing is not None},
        give_up_after=settings.DELIVERY_GIVE_UP_AFTER,
        # A pass hands what it claimed to its conversations' senders and looks again
        # as soon as something new is queued: no one waits for another's send to end.
        linger=0.0,
    )

    async def sweep() -> None:
        # One worker sweeps at a time; whichever runs its schedule next when that one
        # has stopped or died takes over.
        async with leadership.hold("sweep") as leading:
            if not leading:
                return
            if await core.bot.sweep() and interactive:
                await settle()

    sweeper = Sweeper(sweep, core.sweep_interval)
    if until is not None:
        core.repository.on_commit(dispatcher.wake)
    try:
        for channel in opened.values():
            await channel.start()
        await core.bot.open_desk()
        sending = None if until is None else asyncio.create_task(dispatcher.run())
        sweeper.start()
        if until is None:
            await asyncio.gather(*(channel.finished() for channel in opened.values()))
        else:
            await until.wait()
        await sweeper.shutdown()
        for channel in reversed(opened.values()):
            await channel.stop()
        if sending is not None:
            dispatcher.stop()
            try:
                await asyncio.wait_for(sending, 30)
            except TimeoutError:
                log.warning(
                    "outbox pass still running at shutdown; its messages are sent on the next start"
                )
    finally:
        await sweeper.shutdown()
        for channel in reversed(opened.values()):
            await channel.close()


def _signalled() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop
