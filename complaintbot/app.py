"""Wiring: builds the bot with its storage and the configured channels, and runs them
until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.away import AwayMail
from bot.desk import DeskConfig
from bot.followup import FollowUpConfig
from bot.i18n import Translator
from bot.limits import InboundLimit
from bot.notice import BUILTIN_BASIS, PrivacyNotice
from bot.ports import Clock, SystemClock
from bot.retention import RetentionSweep
from bot.router import BotConfig, ComplaintBot
from channels import registry
from channels import web as web_channel
from channels.spec import Channel, ChannelStartError
from channels.web import CHANNEL as WEB_CHANNEL
from channels.web.keys import site_key
from channels.web.tokens import ConversationTokens
from complaintbot.core import Core
from complaintbot.settings import Settings
from scheduler.calendar import build_calendar
from scheduler.sla import PolicyError, load_policy
from storage import migrate
from storage.database import create_engine, is_sqlite
from storage.files import EvidenceFiles
from storage.outbox import SqlOutbox
from storage.outbox_hold import worker_lock
from storage.repository import SqlRepository
from storage.retention import SqlRetention
from storage.staff import list_staff_users
from web.public.links import SurveyLinks

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start; the message says what to do."""


@asynccontextmanager
async def open_core(
    settings: Settings, clock: Clock | None = None, *, pages: bool = False
) -> AsyncIterator[Core]:
    """Storage and the bot, with the schema checked (and brought up to date on SQLite);
    `clock` (the system's by default) is the time everything started from it uses;
    `pages`: this process serves the complainants' pages (`serve`)."""
    clock = clock or SystemClock()
    engine = open_engine(settings)
    try:
        await ensure_schema(engine, settings.DATABASE_URL)
        repository = SqlRepository(engine, settings.DATA_DIR, clock, registry.on_record())
        desk = None
        if settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_AGENT_CHAT_ID is not None:
            desk = DeskConfig(
                channel="telegram",
                conversation=str(settings.TELEGRAM_AGENT_CHAT_ID),
                agent_ids=settings.agent_ids,
                supervisor_ids=settings.supervisor_ids | await staff_supervisors(engine),
                show_agent_names=settings.AGENT_DISPLAY_NAME == "real",
            )
        config = BotConfig(
            case_prefix=settings.CASE_PREFIX,
            timezone=settings.zone,
            default_locale=settings.DEFAULT_LOCALE,
            desk=desk,
            followup=followup_config(settings),
            mail_auto_reply_limit=settings.MAIL_AUTO_REPLY_LIMIT,
            mail_channel=registry.mail_channel(settings),
            inbound_limit=InboundLimit(
                settings.INBOUND_MESSAGES_PER_MINUTE, settings.INBOUND_BURST
            ),
            survey_link=survey_links(settings),
            survey_link_channels=frozenset({web_channel.CHANNEL}),
            privacy=privacy_notice(settings, served_here=pages),
            away_mail=away_mail(settings, clock),
        )
        outbox = SqlOutbox(engine, settings.DATA_DIR, worker=settings.worker_id)
        yield Core(
            engine,
            ComplaintBot(repository, config, clock),
            repository,
            outbox,
            settings.SWEEP_INTERVAL_SECONDS,
            clock,
            retention_sweep(engine, settings, clock),
        )
    finally:
        await engine.dispose()


def away_mail(settings: Settings, clock: Clock) -> AwayMail | None:
    """Web chat answers a visitor's page did not show, mailed with a link that resumes
    the conversation: when the web chat and the mail channel are both on."""
    if not settings.WEB_ENABLED or registry.mail_channel(settings) is None:
        return None
    chat = settings.public_base_url(settings.HOST, settings.PORT).rstrip("/") + "/chat/#resume="

    @functools.cache
    def tokens() -> ConversationTokens:
        # Read (or made) when a link is first needed, not by every command that starts.
        return ConversationTokens(site_key(settings.WEB_SECRET_KEY, settings.DATA_DIR), clock)

    def link(conversation: str) -> str:
        return chat + tokens().resume_token(conversation, clock.now())

    return AwayMail(channels=frozenset({WEB_CHANNEL}), link=link)


async def staff_supervisors(engine: AsyncEngine) -> frozenset[str]:
    """The Telegram ids of enabled staff supervisors (`users add --role supervisor
    --telegram-id`): escalations reach them as they reach TELEGRAM_SUPERVISOR_IDS.
    Read at start: a supervisor added later is told from the next start."""
    return frozenset(
        str(user.telegram_id)
        for user in await list_staff_users(engine)
        if user.role == "supervisor" and not user.disabled and user.telegram_id is not None
    )


def survey_links(settings: Settings) -> SurveyLinks | None:
    """The signed addresses of the survey's page that web-chat surveys carry, under
    PUBLIC_BASE_URL with the site's key; None when the complainants' pages are off."""
    if not settings.WEB_ENABLED:
        return None
    return SurveyLinks(
        settings.public_base_url(settings.HOST, settings.PORT),
        functools.partial(site_key, settings.WEB_SECRET_KEY, settings.DATA_DIR),
    )


def privacy_notice(settings: Settings, *, served_here: bool) -> PrivacyNotice:
    """The notice in force, with the address people read it at: the company's page
    (PRIVACY_NOTICE_URL), else the built-in one at PUBLIC_BASE_URL/privacy where it is
    served — by this process (`served_here`), or by the company's `serve` at a
    PUBLIC_BASE_URL it set. Elsewhere (`run` on its own, the complainants' pages off)
    there is no page to send anyone to: the short notice stands without a link."""
    notice = PrivacyNotice(
        version=settings.privacy_notice_version(BUILTIN_BASIS),
        url=settings.PRIVACY_NOTICE_URL,
        retention_days=settings.RETENTION_DAYS,
    )
    if notice.url is None and not (
        settings.WEB_ENABLED and (served_here or settings.PUBLIC_BASE_URL)
    ):
        return notice
    base_url = settings.public_base_url(settings.HOST, settings.PORT)
    return replace(notice, page=notice.where(base_url))


def retention_sweep(engine: AsyncEngine, settings: Settings, clock: Clock) -> RetentionSweep | None:
    """The sweep that erases long-archived cases' personal data; None keeps it all."""
    if settings.RETENTION_DAYS is None:
        return None
    return RetentionSweep(SqlRetention(engine, settings.DATA_DIR), settings.RETENTION_DAYS, clock)


def open_engine(settings: Settings) -> AsyncEngine:
    """The database's engine; a SQLite file that cannot be made stops start-up."""
    try:
        return create_engine(settings.DATABASE_URL, settings.worker_id)
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
    if settings.TELEGRAM_WEBHOOK_URL and settings.TELEGRAM_BOT_TOKEN:
        # Polling here would delete the webhook every `serve` worker takes updates by.
        raise StartupError(
            "TELEGRAM_WEBHOOK_URL is set: Telegram sends updates to `complaintbot serve`; "
            "run that, or unset TELEGRAM_WEBHOOK_URL to poll with `complaintbot run`."
        )
    await _run(settings, registry.configured(settings), stop, clock, web=False)


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    clock: Clock | None = None,
    listening: Callable[[int], None] | None = None,
) -> None:
    """`complaintbot serve`: the configured channels (never the console) and the HTTP
    server on HOST:PORT until `stop` is set (or SIGINT/SIGTERM); `listening` is told the
    port once it listens. Any number of workers may serve one PostgreSQL database."""
    chosen = [c for c in registry.configured(settings, serving=True) if not c.interactive]
    await _run(settings, chosen, stop, clock, web=True, listening=listening)


async def _run(
    settings: Settings,
    chosen: list[Channel],
    stop: asyncio.Event | None,
    clock: Clock | None,
    *,
    web: bool,
    listening: Callable[[int], None] | None = None,
) -> None:
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
    # The worker brings the web app, the HTTP server and every channel's library: only
    # the commands that run one load them, not every `complaintbot` command.
    from complaintbot.worker import Worker

    with _one_worker_on_sqlite(settings.DATABASE_URL):
        sock = _listen(settings) if web else None
        try:
            async with open_core(settings, clock, pages=web and settings.WEB_ENABLED) as core:
                try:
                    await Worker(settings, core, chosen, sock, listening).run(stop)
                except ChannelStartError as error:
                    raise StartupError(str(error)) from None
        finally:
            if sock is not None:
                sock.close()


@contextlib.contextmanager
def _one_worker_on_sqlite(url: str) -> Iterator[None]:
    """SQLite is one process's database: a second `run` or `serve` on the same file is
    refused (on PostgreSQL any number may run)."""
    try:
        lock = worker_lock(url)
    except FileNotFoundError:
        lock = True  # no directory for the database: opening it says so
    except OSError as error:
        raise StartupError(f"Cannot open the lock file beside DATABASE_URL: {error}") from None
    if lock is False:
        raise StartupError(
            "Another complaintbot run or serve is using the SQLite database of DATABASE_URL; "
            "SQLite takes one worker (use PostgreSQL for several)."
        )
    try:
        yield
    finally:
        if lock is not True:
            lock.close()


def _listen(settings: Settings) -> socket.socket:
    from complaintbot.server import listening_socket

    try:
        return listening_socket(settings.HOST, settings.PORT)
    except OSError as error:
        raise StartupError(
            f"Cannot listen on HOST {settings.HOST} PORT {settings.PORT}: {error.strerror or error}"
        ) from None
