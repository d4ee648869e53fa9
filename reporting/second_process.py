"""The machine's second core on a big period: a process of its own does the later half of
the cases (the XLSX ledger's rows, the report's figures) while this one does the first.

It is a fresh interpreter (spawned, not forked: this one has the database driver's
threads running); its work is a module-level coroutine function, given the job and a
function to count the cases it has done (for the progress bar), whose result is sent
back pickled (protocol 5: what pickles out of band, as `reporting.stats.Doubles`, is sent
from its own memory afterwards and read back one buffer at a time, so neither process
holds a pickled copy of the big arrays beside them).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

# From this many cases on a second process does half of them: below, its start-up (a
# second of imports) costs more than it saves.
SPLIT_FROM = 20_000

Job = TypeVar("Job")
Result = TypeVar("Result")
Work = Callable[[Job, Callable[[int], None]], Coroutine[Any, Any, Result]]


class SecondProcessFailed(Exception):
    """The second process ended without finishing its half (killed, out of memory)."""


class SecondProcess(Generic[Job, Result]):
    """`work(job, count)` in a process of its own, from construction until `finish`."""

    def __init__(self, work: Work[Job, Result], job: Job) -> None:
        context = multiprocessing.get_context("spawn")
        self._done = context.Value("q", 0, lock=False)  # cases done, for the progress bar
        self._told = 0
        self._result, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run, args=(work, job, self._done, sender), daemon=True
        )
        self._process.start()
        sender.close()

    def __enter__(self) -> SecondProcess[Job, Result]:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()

    def news(self) -> int:
        """Cases done since last asked."""
        done = self._done.value
        new, self._told = done - self._told, done
        return new

    async def finish(self, progress: Callable[[int], None]) -> Result:
        """Waits for the process's result, telling `progress`; what its work returned.
        The result is read as it comes: a big one fills the pipe, and the process cannot
        end before it has been read."""
        # The pipe is readable when the result comes, and at its end when the process
        # ended without one.
        while not await asyncio.to_thread(self._result.poll, 0.25):
            progress(self.news())
        try:
            outcome = _receive(self._result)
        except EOFError:
            outcome = None
        await asyncio.to_thread(self._process.join)
        progress(self.news())
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:
            raise SecondProcessFailed(
                f"the second process ended with code {self._process.exitcode}"
            )
        result: Result = outcome[0]
        return result


def _run(work: Work[Any, Any], job: Any, done: Any, result: Connection) -> None:
    """The second process: does the work, then sends its result (in a tuple) or error."""

    def count(cases: int) -> None:
        done.value += cases

    try:
        outcome: tuple[Any] | BaseException = (asyncio.run(work(job, count)),)
    except KeyboardInterrupt:  # Ctrl-C reaches both processes; the first one reports it
        return
    except Exception as error:
        outcome = error
    try:
        _send(result, outcome)
    except Exception:  # an error that does not pickle
        _send(result, RuntimeError(str(outcome)))


def _send(connection: Connection, outcome: object) -> None:
    """The pickle, then each out-of-band buffer as it is in memory."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(outcome, protocol=5, buffer_callback=buffers.append)
    connection.send((len(buffers), data))
    for buffer in buffers:
        connection.send_bytes(buffer.raw())


def _receive(connection: Connection) -> Any:
    """What `_send` sent; each buffer is read when the pickle comes to it, so only one is
    held beside the objects made of those before."""
    count, data = connection.recv()
    return pickle.loads(data, buffers=(connection.recv_bytes() for _ in range(count)))
