"""Several `complaintbot serve` processes on one database, and a load balancer before them.

For tests and benchmarks of what happens across workers: start N real processes
(`python -m complaintbot serve`) with one environment, each on a free port of its own,
wait until each answers `/readyz`, read each one's `/metrics`, and end one the hard way
(SIGKILL: no last words) or the polite one (SIGTERM: a graceful stop). Each worker's
output goes to a file of its own, so a failure can show its last lines (`tails`).

`Balancer` stands where nginx stands in deploy/nginx.conf: a round-robin HTTP proxy on
127.0.0.1 that passes a request (body and headers, the webhook's secret header among
them) to the next worker and, when that one cannot be reached or answers 502/503, to the
one after; 502 when none could take it.

    env = webhook_env(api, database_url, tmp_path / "data", SWEEP_INTERVAL_SECONDS=1)
    async with Workers(env, tmp_path / "workers", count=3) as workers:
        async with Balancer(workers.urls) as balancer:
            api.route(PUBLIC, balancer.url)
            ...
            workers[1].kill()
            await workers[1].wait()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import aiohttp
import httpx
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from complaintbot.settings import Settings
from tests.support.telegram_api import UNPACED
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from tests.support.telegram_api import FakeBotApi

# The public host of the webhook: `FakeBotApi.route(PUBLIC, balancer.url)` sends
# Telegram's deliveries for it to the balancer, as a TLS-terminating proxy would.
PUBLIC = "https://bot.example.com"

# Headers that belong to one connection, not to the request: a proxy does not pass them.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def free_port() -> int:
    """A port nothing listens on now (another process may take it before the worker
    binds it; then that worker fails at start and says so in its log)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Run by the child before it becomes `python ARGS`: on Linux it asks for SIGTERM when
# its parent ends (PR_SET_PDEATHSIG, kept across exec), so a test run or bench killed
# outright leaves no worker behind, busy with its streams and sweeps.
_END_WITH_PARENT = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
if sys.platform == "linux":
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    if os.getppid() != parent:  # it ended before the request was made
        sys.exit(1)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def ending_with_this_process(*args: str) -> list[str]:
    """The command line of `python ARGS` that ends (SIGTERM) when this process does."""
    return [sys.executable, "-c", _END_WITH_PARENT, str(os.getpid()), *args]


def serve_env(database_url: str, data_dir: Path, **settings: object) -> dict[str, str]:
    """The environment of a worker: this process's, without any complaintbot setting of
    its own (a developer's TELEGRAM_BOT_TOKEN must not leak in), plus the database, the
    data directory and `settings` (values as strings; None leaves a setting out)."""
    own = set(Settings.model_fields)
    env = {key: value for key, value in os.environ.items() if key not in own}
    env["DATABASE_URL"] = database_url
    env["DATA_DIR"] = str(data_dir)
    env.update({key: str(value) for key, value in settings.items() if value is not None})
    return env


def webhook_env(
    api: FakeBotApi, database_url: str, data_dir: Path, public: str = PUBLIC, **settings: object
) -> dict[str, str]:
    """`serve_env` for Telegram by webhook against the Bot API stand-in: a fresh webhook
    path and secret under `public`, Telegram's limits off (`UNPACED`) unless `settings`
    say otherwise."""
    telegram = {
        **UNPACED,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "TELEGRAM_WEBHOOK_URL": f"{public}/telegram/{secrets.token_urlsafe(16)}",
        "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
    }
    return serve_env(database_url, data_dir, **{**telegram, **settings})


def sample(page: str, name: str, **labels: str) -> float | None:
    """The value of the first sample called `name` with these labels on a /metrics page;
    None when there is none."""
    for family in text_string_to_metric_families(page):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return None


@dataclass
class WorkerProcess:
    """One `complaintbot serve` process: its WORKER_ID, port and output file."""

    name: str
    port: int
    log: Path
    process: asyncio.subprocess.Process
    metrics_token: str | None = None
    _output: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def ready(self, within: float = 60.0) -> dict[str, Any]:
        """/readyz's answer once it is 200; fails (with the log's last lines) when the
        process ends first or `within` seconds pass."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5, verify=False) as client:

            async def answer() -> dict[str, Any] | None:
                if not self.alive:
                    raise AssertionError(
                        f"worker {self.name} exited with {self.process.returncode} before "
                        "it was ready"
                    )
                try:
                    response = await client.get("/readyz")
                except httpx.HTTPError:
                    return None  # not listening yet
                return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

            try:
                return await eventually(answer, within=within)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{self.tail()}") from None

    async def metrics(self) -> str:
        """This worker's /metrics page."""
        headers = {"Authorization": f"Bearer {self.metrics_token}"} if self.metrics_token else {}
        # Plain HTTP: no TLS context to build (loading the CA bundle blocks the event loop
        # for ~0.1 s, and the Bot API stand-in shares that loop: its clock would stall).
        async with httpx.AsyncClient(base_url=self.url, timeout=10, verify=False) as client:
            response = await client.get("/metrics", headers=headers)
        response.raise_for_status()
        return response.text

    async def sample(self, name: str, **labels: str) -> float | None:
        """One figure of this worker's /metrics (None when it has no such sample)."""
        return sample(await self.metrics(), name, **labels)

    def kill(self) -> None:
        """SIGKILL: the process ends at once; its sockets (HTTP, database, IMAP) are
        closed by the kernel, nothing of its own runs."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM: the worker stops gracefully within SHUTDOWN_GRACE_SECONDS."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)

    async def wait(self, within: float = 30.0) -> int:
        """The exit status once the process has ended; fails after `within` seconds."""
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"worker {self.name} still runs after {within}s:\n{self.tail()}"
            ) from None
        self._close_output()
        return code

    def output(self) -> str:
        """Everything the worker wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 30) -> str:
        """The last lines of the worker's output, for a failure message."""
        last = self.output().splitlines()[-lines:]
        return "\n".join(f"  [{self.name}] {line}" for line in last)

    def logged(self, pattern: str) -> bool:
        """True when a line of the worker's output matches the regular expression."""
        return re.search(pattern, self.output(), re.MULTILINE) is not None

    def _close_output(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None


class Workers:
    """N `complaintbot serve` processes with one environment (`serve_env`), started
    together in `start` (or the context), each with WORKER_ID `<prefix>-<n>`, HOST
    127.0.0.1 and a free PORT; output in `directory/<name>.log`. The database must be
    migrated already (the workers do not migrate, as in deploy/)."""

    def __init__(
        self,
        env: Mapping[str, str],
        directory: Path,
        count: int = 3,
        *,
        prefix: str = "worker",
        cwd: Path | None = None,
        ready_within: float = 60.0,
    ) -> None:
        self.env = dict(env)
        self.directory = directory
        self.count = count
        self.prefix = prefix
        # Not the checkout: a `.env` there would be read by every worker.
        self.cwd = cwd or directory
        self.ready_within = ready_within
        self.workers: list[WorkerProcess] = []

    def __getitem__(self, index: int) -> WorkerProcess:
        return self.workers[index]

    def __iter__(self) -> Iterator[WorkerProcess]:
        return iter(self.workers)

    def __len__(self) -> int:
        return len(self.workers)

    @property
    def alive(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.alive]

    def urls(self) -> list[str]:
        """Every worker's base URL, the ended ones too (a balancer finds those out)."""
        return [worker.url for worker in self.workers]

    async def __aenter__(self) -> Workers:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Starts `count` workers at once and waits until each is ready."""
        started = [await self.launch() for _ in range(self.count)]
        await asyncio.gather(*(worker.ready(self.ready_within) for worker in started))

    async def launch(self, **more_env: str) -> WorkerProcess:
        """Starts one more worker (not waiting for it to be ready); `more_env` is added
        to the shared environment for this one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}-{len(self.workers) + 1}"
        port = free_port()
        log = self.directory / f"{name}.log"
        output = log.open("ab")
        env = {
            **self.env,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WORKER_ID": name,
            **more_env,
        }
        process = await asyncio.create_subprocess_exec(
            *ending_with_this_process("-m", "complaintbot", "serve"),
            cwd=self.cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
        worker = WorkerProcess(
            name, port, log, process, env.get("METRICS_TOKEN") or None, _output=output
        )
        self.workers.append(worker)
        return worker

    async def add(self, **more_env: str) -> WorkerProcess:
        """Starts one more worker and waits until it is ready."""
        worker = await self.launch(**more_env)
        await worker.ready(self.ready_within)
        return worker

    async def stop(self, within: float = 30.0) -> dict[str, int]:
        """SIGTERM to every worker still running, SIGKILL to any still running after
        `within` seconds; returns each worker's exit status by name."""
        for worker in self.alive:
            worker.terminate()
        codes: dict[str, int] = {}
        for worker in self.workers:
            try:
                codes[worker.name] = await worker.wait(within)
            except AssertionError:
                worker.kill()
                codes[worker.name] = await worker.process.wait()
            worker._close_output()
        return codes

    def tails(self, lines: int = 30) -> str:
        """The last lines of every worker's output, for a failure message."""
        return "\n".join(worker.tail(lines) for worker in self.workers)

    async def samples(self, name: str, **labels: str) -> dict[str, float | None]:
        """One figure of every running worker's /metrics, by worker name."""
        alive = self.alive
        found = await asyncio.gather(*(worker.sample(name, **labels) for worker in alive))
        return {worker.name: value for worker, value in zip(alive, found, strict=True)}


@dataclass(frozen=True)
class Passed:
    """One request the balancer passed on: to which upstream, and what came of it."""

    upstream: str
    status: int | None  # None: the upstream could not be reached or hung up
    error: str | None


class Balancer:
    """A round-robin HTTP proxy on 127.0.0.1 before `upstreams` (base URLs, or a
    function giving them at each request, such as `Workers.urls`).

    Each request goes to the next upstream in turn; on a connection error, a timeout or
    a 502/503 answer it goes on to the one after (as nginx's `proxy_next_upstream
    error http_502 http_503 non_idempotent`), each upstream at most once. The last
    upstream's 502/503 is the answer when every one gave one; 502 when none answered.
    `attempts` records every try.
    """

    def __init__(
        self,
        upstreams: Sequence[str] | Callable[[], Sequence[str]],
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 60.0,
    ) -> None:
        self._upstreams = upstreams
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self.attempts: list[Passed] = []
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upstreams(self) -> list[str]:
        found = self._upstreams() if callable(self._upstreams) else self._upstreams
        return [url.rstrip("/") for url in found]

    async def __aenter__(self) -> Balancer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession(timeout=self.timeout, auto_decompress=False)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def passed_to(self, upstream: str) -> list[Passed]:
        """The tries that went to one upstream."""
        return [a for a in self.attempts if a.upstream == upstream.rstrip("/")]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstreams = self.upstreams()
        start = self._next
        self._next += 1
        last: web.Response | None = None
        for offset in range(len(upstreams)):
            upstream = upstreams[(start + offset) % len(upstreams)]
            try:
                async with self._session.request(
                    request.method,
                    upstream + request.path_qs,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                ) as response:
                    answer = await response.read()
                    self.attempts.append(Passed(upstream, response.status, None))
                    passed = web.Response(
                        status=response.status,
                        body=answer,
                        headers={
                            k: v
                            for k, v in response.headers.items()
                            if k.lower() not in _HOP_BY_HOP
                        },
                    )
            except (aiohttp.ClientError, TimeoutError) as error:
                self.attempts.append(Passed(upstream, None, type(error).__name__))
                continue
            if response.status not in (502, 503):
                return passed
            last = passed
        return last or web.Response(status=502, text="no worker could take the request")


@contextlib.contextmanager
def shown_on_failure(workers: Workers, lines: int = 40) -> Iterator[None]:
    """Adds the workers' last lines of output to an assertion that fails in the block."""
    try:
        yield
    except AssertionError as error:
        tails = workers.tails(lines)
        raise AssertionError(f"{error}\n--- the workers' last lines ---\n{tails}") from None
