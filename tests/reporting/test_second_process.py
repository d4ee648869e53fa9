"""The second process of a big export or report: its result comes back however big, its
error is raised here, and its end without a result is said."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from reporting.second_process import SecondProcess, SecondProcessFailed


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


async def test_its_error_is_raised_here() -> None:
    with (
        SecondProcess(_refusing, "no such table") as other,
        pytest.raises(ValueError, match="no such"),
    ):
        await other.finish(lambda _cases: None)


async def test_an_end_without_a_result_is_said() -> None:
    with SecondProcess(_dying, 3) as other, pytest.raises(SecondProcessFailed, match="code 3"):
        await other.finish(lambda _cases: None)
