"""Wiring: builds the bot with its storage and channel, and runs them until stopped."""

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

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.desk import DeskConfig
from bot.followup import FollowUpConfig
from bot.router import BotConfig, ComplaintBot
from channels.email.inbound import CHANNEL as MAIL_CHANNEL
from complaintbot.mail import MailChannel
from complaintbot.settings import Settings
from delivery.dispatcher import Dispatcher
from delivery.sending import ChannelPacing, Rate, Sender
from scheduler.calendar import build_calendar
from scheduler.sla import PolicyError, load_policy
from scheduler.sweeps import Sweeper
from storage import migrate
from storage.database import create_engine, is_sqlite
from storage.outbox import SqlOutbox
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


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    """Storage and the bot, with the schema checked (and brought up to date on SQLite)."""
    engine = create_engine(settings.DATABASE_URL)
    try:
        await ensure_schema(engine, settings.DATABASE_URL)
        repository = SqlRepository(engine, settings.DATA_DIR)
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
        )
        outbox = SqlOutbox(engine, settings.DATA_DIR)
        yield Core(
            engine,
            ComplaintBot(repository, config),
            repository,
            outbox,
            settings.SWEEP_INTERVAL_SECONDS,
        )
    finally:
        await engine.dispose()


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
    if up_to_date:
        return
    if is_sqlite(url):
        await migrate.upgrade(engine)
        return
    raise StartupError("The database schema is out of date; run `complaintbot db upgrade` first.")


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Runs the configured channel until `stop` is set (or SIGINT/SIGTERM, or end of
    input for the console)."""
    async with open_core(settings) as core:
        if settings.TELEGRAM_BOT_TOKEN:
            await _run_telegram(settings, core, stop or _signalled())
        elif settings.IMAP_HOST:
            await _run_mail_only(settings, core, stop or _signalled())
        else:
            await _run_console(core)


async def _run_console(core: Core) -> None:
    from channels.console import CHANNEL, ConsoleChannel

    console = ConsoleChannel()
    dispatcher = Dispatcher(core.outbox, {CHANNEL: console})

    async def settle() -> None:
        while await dispatcher.run_once():
            pass

    async def sweep() -> None:
        if await core.bot.sweep():
            await settle()

    sweeper = Sweeper(sweep, core.sweep_interval)
    print("complaintbot 控制台对话 · console chat — Ctrl-D 退出 / to quit", flush=True)
    sweeper.start()
    try:
        await console.run(core.bot.handle_safely, settle)
    finally:
        await sweeper.shutdown()


async def _run_telegram(settings: Settings, core: Core, stop: asyncio.Event) -> None:
    from telegram import Update
    from telegram.error import InvalidToken, NetworkError

    from channels.telegram import CHANNEL, TelegramChannel, build_application, telegram_pacing

    assert settings.TELEGRAM_BOT_TOKEN
    application = build_application(
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_BASE_URL, settings.TELEGRAM_BASE_FILE_URL
    )
    channel = TelegramChannel(application, core.bot.handle_safely)
    senders: dict[str, Sender] = {CHANNEL: channel}
    pacing = telegram_pacing(
        settings.TELEGRAM_MESSAGES_PER_SECOND,
        settings.TELEGRAM_CHAT_MESSAGES_PER_SECOND,
        settings.TELEGRAM_GROUP_MESSAGES_PER_MINUTE,
    )
    mail = _mail_channel(settings, core, senders)
    dispatcher = Dispatcher(
        core.outbox,
        senders,
        on_failure=core.bot.report_undelivered,
        pacing={CHANNEL: pacing, MAIL_CHANNEL: mail_pacing(settings)},
    )
    core.repository.on_commit(dispatcher.wake)
    try:
        await application.initialize()
    except InvalidToken:
        raise StartupError(
            "Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather."
        ) from None
    except NetworkError as error:
        raise StartupError(f"Cannot reach Telegram at TELEGRAM_BASE_URL: {error}") from None
    try:
        await channel.set_commands(core.bot.command_menu())
        if settings.TELEGRAM_AGENT_CHAT_ID is not None:
            for warning in await channel.check_agent_chat(settings.TELEGRAM_AGENT_CHAT_ID):
                log.warning("%s", warning)
        else:
            log.warning(
                "TELEGRAM_AGENT_CHAT_ID is not set: new cases are not posted to any agents' group"
            )
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        log.info("polling Telegram as @%s", application.bot.username)
        sending = asyncio.create_task(dispatcher.run())
        sweeper = Sweeper(core.bot.sweep, core.sweep_interval)
        sweeper.start()
        if mail is not None:
            mail.start()
        await stop.wait()
        await sweeper.shutdown()
        if mail is not None:
            await mail.stop()
        dispatcher.stop()
        try:
            await asyncio.wait_for(sending, 30)
        except TimeoutError:
            log.warning(
                "outbox pass still running at shutdown; its messages are sent on the next start"
            )
        await application.updater.stop()
        await application.stop()
    finally:
        await application.shutdown()


def _mail_channel(settings: Settings, core: Core, senders: dict[str, Sender]) -> MailChannel | None:
    """The email channel when IMAP_HOST is set; its sender joins `senders`."""
    if not settings.IMAP_HOST:
        return None
    problem = settings.email_problem()
    if problem:
        raise StartupError(problem)
    mail = MailChannel(settings, core)
    senders[MAIL_CHANNEL] = mail.sender
    return mail


async def _run_mail_only(settings: Settings, core: Core, stop: asyncio.Event) -> None:
    senders: dict[str, Sender] = {}
    mail = _mail_channel(settings, core, senders)
    assert mail is not None
    dispatcher = Dispatcher(
        core.outbox,
        senders,
        on_failure=core.bot.report_undelivered,
        pacing={MAIL_CHANNEL: mail_pacing(settings)},
    )
    core.repository.on_commit(dispatcher.wake)
    sending = asyncio.create_task(dispatcher.run())
    sweeper = Sweeper(core.bot.sweep, core.sweep_interval)
    sweeper.start()
    mail.start()
    log.warning("TELEGRAM_BOT_TOKEN is not set: mail is filed, but no agents' group sees it")
    await stop.wait()
    await sweeper.shutdown()
    await mail.stop()
    dispatcher.stop()
    await asyncio.wait_for(sending, 30)


def mail_pacing(settings: Settings) -> ChannelPacing:
    """Outgoing mail at most SMTP_MESSAGES_PER_MINUTE (mail providers throttle senders)."""
    return ChannelPacing(overall=Rate.per(settings.SMTP_MESSAGES_PER_MINUTE, 60.0))


def _signalled() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop
