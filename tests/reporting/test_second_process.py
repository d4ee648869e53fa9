"""The second process of a big export or report: its result comes back however big (its
packed arrays outside the pickle), its error is raised here, and its end without a result
is said."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable

import pytest

from reporting.second_process import SecondProcess, SecondProcessFailed, _send
from reporting.stats import Doubles


async def _big(size: int, count: Callable[[int], None]) -> bytes:
    count(size)
    return b"x" * size  # many times what a pipe holds before its reader reads


async def _refusing(reason: str, _count: Callable[[int], None]) -> None:
    raise ValueError(reason)


async def _dying(code: int, _count: Callable[[int], None]) -> None:
    os._exit(code)  # as if killed: no result, no error


async def test_a_big_result_comes_back_whole() -> None:
    told: list[int] = []
    with SecondProcess(_big, 8_000_000) as other:
        result = await other.finish(told.append)
    assert result == b"x" * 8_000_000
    assert sum(told) == 8_000_000


async def _times(size: int, _count: Callable[[int], None]) -> dict[str, Doubles]:
    return {"first": Doubles(float(n) for n in range(size)), "second": Doubles([0.5] * size)}


async def test_packed_times_come_back_equal_and_packed() -> None:
    with SecondProcess(_times, 300_000) as other:
        result = await other.finish(lambda _cases: None)
    assert result == {"first": Doubles(range(300_000)), "second": Doubles([0.5] * 300_000)}
    assert all(isinstance(values, Doubles) for values in result.values())


def test_the_pickle_leaves_the_arrays_memory_out() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    times = {"first": Doubles([1.5] * 300_000), "second": Doubles([2.5] * 300_000)}
    with reader, writer:
        sending = threading.Thread(target=_send, args=(writer, times))
        sending.start()
        count, data = reader.recv()
        buffers = [reader.recv_bytes() for _ in range(count)]
        sending.join()
    # The arrays' 4.8 MB follow the pickle as they are in memory, not copied into it.
    assert count == 2 and len(data) < 1000
    assert buffers == [values.tobytes() for values in times.values()]


async def test_its_error_is_raised_here() -> None:
    with (
        SecondProcess(_refusing, "no such table") as other,
        pytest.raises(ValueError, match="no such"),
    ):
        await other.finish(lambda _cases: None)


async def test_an_end_without_a_result_is_said() -> None:
    with SecondProcess(_dying, 3) as other, pytest.raises(SecondProcessFailed, match="code 3"):
        await other.finish(lambda _cases: None)
