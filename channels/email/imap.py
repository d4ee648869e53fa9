"""The IMAP poller: new mail → `Inbound` → the bot, then marked processed on the server.

One connection at a time. It waits with IDLE where the server offers it (new mail is
handled within seconds) and polls otherwise; after any drop it reconnects with a
growing pause. The highest UID handled is kept per mailbox and UIDVALIDITY in the
database, so nothing is read twice or skipped; a mailbox seen for the first time (or
whose UIDVALIDITY changed) is read from its unseen mail. A message is marked (flag
`\\Seen`, or moved to a folder) only after the bot has committed it, and the bot
recognises a message fetched twice by its Message-ID, so a drop at any point loses
nothing and files nothing twice.

With several workers (PostgreSQL), `Leadership` lets one of them read a mailbox at a
time; another takes over when it goes away.

aioimaplib's `idle_start` can wait forever when the server answers IDLE with BYE
(upstream issue #110): every wait here has a timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aioimaplib

from bot.messages import Attachment, Inbound
from bot.ports import Clock, SystemClock
from channels.email.fetching import (
    CHUNK,
    MARK_HEADER,
    FetchError,
    MailFetcher,
    parse_bodystructure,
)
from channels.email.inbound import MAX_FILE, RAW_NAME, mail_to_inbound
from channels.spec import AlwaysLeader, CursorStore, Leadership

log = logging.getLogger(__name__)

LEADER_LOOK = 2.0  # seconds between tries to read a mailbox another worker reads

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
Handle = Callable[[Inbound], Awaitable[Any]]


class ImapError(Exception):
    """The server refused something the poller needs (login, the mailbox)."""


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    security: str  # ssl | starttls | none
    username: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"
    poll_seconds: float = 60.0
    processed_folder: str | None = None
    # IDLE is renewed this often (RFC 2177: servers may drop it after 30 minutes).
    idle_seconds: float = 300.0
    timeout: float = 30.0
    first_backoff: float = 1.0
    max_backoff: float = 120.0

    @property
    def account(self) -> str:
        return f"{self.username}@{self.host}:{self.port}/{self.mailbox}"


class ImapPoller:
    def __init__(
        self,
        config: ImapConfig,
        handle: Handle,
        cursors: CursorStore,
        *,
        own_addresses: frozenset[str] = frozenset(),
        max_file: int = MAX_FILE,
        leadership: Leadership | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.leadership = leadership or AlwaysLeader()
        self.handle = handle
        self.cursors = cursors
        self.own_addresses = own_addresses
        self.max_file = max_file
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self.connected = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Reads mail until `stop`, reconnecting after every failure."""
        backoff = self.config.first_backoff
        while not self._stop.is_set():
            try:
                async with self.leadership.hold(f"imap:{self.config.account}") as leading:
                    if not leading:
                        # Another worker reads this mailbox; take over within seconds
                        # when it goes away.
                        await self._wait(min(self.config.poll_seconds, LEADER_LOOK))
                        continue
                    await self._session()
                backoff = self.config.first_backoff
            except (ImapError, aioimaplib.AioImapException, OSError, TimeoutError) as error:
                # (OSError includes a database that cannot be reached for the lock.)
                reason = str(error) or f"{type(error).__name__} (no answer in time)"
                log.warning("IMAP %s: %s; again in %.0fs", self.config.host, reason, backoff)
            except Exception:
                log.exception("IMAP poller failed; again in %.0fs", backoff)
            finally:
                self.connected.clear()
            if self._stop.is_set():
                break
            await self._wait(backoff)
            backoff = min(backoff * 2, self.config.max_backoff)

    async def _wait(self, seconds: float, *also: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._stop, *also)]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # ----- one connection --------------------------------------------------------------

    async def _session(self) -> None:
        imap = await self._connect()
        try:
            uidvalidity, uidnext = await self._select(imap)
            self.connected.set()
            idle = imap.has_capability("IDLE")
            log.info(
                "IMAP %s/%s open (%s)",
                self.config.host,
                self.config.mailbox,
                "IDLE" if idle else f"polling every {self.config.poll_seconds:.0f}s",
            )
            while not self._stop.is_set():
                # Again until nothing is new: mail that arrives during a pass is announced
                # in a command's answer, which aioimaplib drops, not in the next IDLE.
                while await self._fetch_new(imap, uidvalidity, uidnext):
                    pass
                if self._lost.is_set():
                    raise ConnectionError("connection lost")
                if idle:
                    await self._idle(imap)
                else:
                    await self._wait(self.config.poll_seconds, self._lost)
                if self._lost.is_set():
                    raise ConnectionError("connection lost")
        finally:
            await self._close(imap)

    async def _connect(self) -> aioimaplib.IMAP4:
        config = self.config
        self._lost.clear()

        def lost(_error: Exception | None) -> None:
            self._lost.set()

        context = ssl.create_default_context() if config.security != "none" else None
        imap = aioimaplib.IMAP4(
            host=config.host,
            port=config.port,
            timeout=config.timeout,
            conn_lost_cb=lost,
            ssl_context=context if config.security == "ssl" else None,
        )
        try:
            await imap.wait_hello_from_server()
            if config.security == "starttls":
                await _starttls(imap, config.host, context or ssl.create_default_context())
            response = await imap.login(config.username, config.password)
            if response.result != "OK":
                raise ImapError("login refused: check IMAP_USERNAME and IMAP_PASSWORD")
        except BaseException:
            if imap.protocol.transport is not None:
                imap.protocol.transport.close()  # no socket left behind per attempt
            raise
        return imap

    async def _select(self, imap: aioimaplib.IMAP4) -> tuple[int, int]:
        """(UIDVALIDITY, UIDNEXT) of the mailbox."""
        config = self.config
        response = await imap.select(config.mailbox)
        if response.result != "OK":
            raise ImapError(f"cannot open mailbox {config.mailbox!r} (IMAP_MAILBOX)")
        if config.processed_folder:
            await imap.create(config.processed_folder)  # "already exists" is fine
        return _number(_UIDVALIDITY, response.lines), _number(_UIDNEXT, response.lines) or 1

    async def _close(self, imap: aioimaplib.IMAP4) -> None:
        try:
            if not self._lost.is_set():
                await asyncio.wait_for(imap.logout(), 5)
        except Exception as error:
            log.debug("IMAP logout: %s", error)

    # ----- mail ------------------------------------------------------------------------

    async def _fetch_new(self, imap: aioimaplib.IMAP4, uidvalidity: int, uidnext: int) -> bool:
        """One pass over what is new; True when it handled something or set the cursor."""
        account = self.config.account
        cursor = await self.cursors.load(account)
        if cursor is None or cursor[0] != uidvalidity:
            if cursor is not None:
                log.warning("UIDVALIDITY of %s changed: reading its unseen mail", account)
            # Unseen mail, and whatever arrived since we opened the mailbox.
            uids = await self._search(imap, "UNSEEN")
            last = uidnext - 1
        else:
            last = cursor[1]
            uids = [uid for uid in await self._search(imap, f"UID {last + 1}:*") if uid > last]
        for uid in sorted(uids):
            if self._stop.is_set():
                return False
            location: dict[str, str | int] = {
                "mailbox": self.config.mailbox,
                "uidvalidity": uidvalidity,
                "uid": uid,
            }
            if await self._fetch(imap, uid, location):
                await self._mark(imap, uid)
            last = max(last, uid)
            await self.cursors.save(account, uidvalidity, last)
        if cursor is None or cursor[0] != uidvalidity:
            await self.cursors.save(account, uidvalidity, last)
            return True
        return bool(uids)

    async def _fetch(
        self, imap: aioimaplib.IMAP4, uid: int, location: dict[str, str | int]
    ) -> bool:
        """Fetches the mail (see `fetching`) and hands it to the bot; False when it
        vanished first. It arrived when it reached the mailbox (INTERNALDATE): the time
        the complaint was received, even when the poller was down then."""
        response = await self._command(
            imap.uid("fetch", str(uid), "(RFC822.SIZE INTERNALDATE BODYSTRUCTURE)")
        )
        if response.result != "OK":
            raise ImapError(f"fetching UID {uid} failed: {response.lines[-1]!r}")
        if not any(b"FETCH" in bytes(line) for line in response.lines[:-1]):
            log.warning("UID %s vanished before it was fetched", uid)
            return False
        arrived = _internal_date(response.lines) or self.clock.now()
        fetcher = MailFetcher(imap, self._command, self.max_file)
        try:
            spooled = await fetcher.spool(uid)
        except FetchError as error:
            raise ImapError(str(error)) from error
        if spooled.size == 0:  # expunged between the two fetches
            spooled.path.unlink(missing_ok=True)
            log.warning("UID %s vanished before it was fetched", uid)
            return False
        try:
            structure = parse_bodystructure(response.lines)
            if structure is not None and spooled.size > CHUNK:
                raw = await fetcher.rebuild(uid, structure)
            else:  # a small mail: read as it came
                raw = await asyncio.to_thread(spooled.path.read_bytes)
            original = Attachment(
                RAW_NAME,
                "message/rfc822",
                None,
                spooled.size,
                sha256=spooled.sha256,
                path=str(spooled.path),
            )
            inbound = mail_to_inbound(
                raw,
                arrived,
                own_addresses=self.own_addresses,
                max_file=self.max_file,
                location=location,
                original=original,
                mark_header=MARK_HEADER,
            )
            await self.handle(inbound)  # committed when this returns
        except FetchError as error:
            raise ImapError(str(error)) from error
        finally:
            for path in (spooled.path, *fetcher.files):  # stored by now, or to be fetched again
                path.unlink(missing_ok=True)
        return True

    async def _mark(self, imap: aioimaplib.IMAP4, uid: int) -> None:
        folder = self.config.processed_folder
        if folder and imap.has_capability("MOVE"):
            response = await self._command(imap.uid("move", str(uid), folder))
        else:
            response = await self._command(imap.uid("store", str(uid), "+FLAGS", "(\\Seen)"))
            if folder and response.result == "OK":
                await self._command(imap.uid("copy", str(uid), folder))
                await self._command(imap.uid("store", str(uid), "+FLAGS", "(\\Deleted)"))
                await self._command(imap.expunge())
        if response.result != "OK":
            log.warning("UID %s could not be marked processed: %r", uid, response.lines[-1:])

    async def _command(self, command: Awaitable[aioimaplib.Response]) -> aioimaplib.Response:
        """Runs one command with a timeout: some of aioimaplib's (UID STORE among them)
        have none and would wait forever on a dead connection."""
        if self._lost.is_set():
            if inspect.iscoroutine(command):
                command.close()
            raise ConnectionError("connection lost")
        return await asyncio.wait_for(command, self.config.timeout)

    async def _search(self, imap: aioimaplib.IMAP4, criteria: str) -> list[int]:
        response = await self._command(imap.uid_search(criteria, charset=None))
        if response.result != "OK":
            raise ImapError(f"search failed: {response.lines[-1]!r}")
        return [
            int(token)
            for line in response.lines[:-1]
            for token in bytes(line).split()
            if token.isdigit()
        ]

    async def _idle(self, imap: aioimaplib.IMAP4) -> None:
        """Waits in IDLE for new mail, a drop, `stop` or the renewal time."""
        timeout = self.config.timeout
        # At most the poll interval: an announcement lost in a race costs one interval.
        wait = min(self.config.idle_seconds, self.config.poll_seconds)
        idle = await asyncio.wait_for(imap.idle_start(timeout=wait), timeout)
        try:
            push = asyncio.ensure_future(imap.wait_server_push(wait + timeout))
            waiters = {push, *(asyncio.ensure_future(e.wait()) for e in (self._stop, self._lost))}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        finally:
            if not self._lost.is_set():
                imap.idle_done()
                await asyncio.wait_for(idle, timeout)


def _internal_date(lines: list[bytes]) -> datetime | None:
    for line in lines:
        if isinstance(line, bytes) and (found := _INTERNALDATE.search(line)):
            try:
                return datetime.strptime(found.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
            except ValueError:
                break
    return None


def _number(pattern: re.Pattern[bytes], lines: list[bytes]) -> int:
    found = next((m for line in lines if (m := pattern.search(bytes(line)))), None)
    return int(found.group(1)) if found else 0


async def _starttls(imap: aioimaplib.IMAP4, host: str, context: ssl.SSLContext) -> None:
    """aioimaplib has no STARTTLS: ask for it, then wrap the transport in TLS."""
    protocol = imap.protocol
    response = await protocol.execute(
        aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    )
    if response.result != "OK":
        raise ImapError("the server refused STARTTLS (IMAP_SECURITY)")
    loop = asyncio.get_running_loop()
    protocol.transport = await loop.start_tls(
        protocol.transport, protocol, context, server_hostname=host
    )
    await protocol.capability()
