"""What every `complaintbot` command shares: its settings, its clock, and how it fails.

Apart from cli.py so the commands kept in modules of their own (cli_audit.py) use them
without importing cli.py, which registers those commands.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Coroutine
from datetime import date
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from bot.i18n import Translator
from bot.ports import Clock, SystemClock
from complaintbot.app import StartupError
from complaintbot.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error), 2)
        raise  # unreachable; for type checkers


def clock() -> Clock:
    """The command's time: the system's, or the clock a caller passes to `main` as its
    context object (`main(obj=clock)`; tests move it)."""
    context = click.get_current_context(silent=True)
    given = context.find_root().obj if context is not None else None
    return given if given is not None else SystemClock()


def gettext() -> Callable[[str], str]:
    """The texts' language when no command has its settings at hand (DEFAULT_LOCALE,
    or the default's when the settings do not load)."""
    try:
        locale = load_settings().DEFAULT_LOCALE
    except SettingsError:
        locale = Settings.model_fields["DEFAULT_LOCALE"].default
    return Translator(locale).gettext


def database_failed(error: DBAPIError) -> None:
    _ = gettext()
    fail(_("The database failed: {error}").format(error=str(error.orig).strip()), 1)


def settle_heap() -> None:
    """For a command that runs until stopped: what is loaded by now (the libraries, the
    settings) lives as long as the process, so it is kept out of the garbage
    collector's full passes; and those passes come a tenth as often. Each walks every
    object in use (a thousand open web chat streams: some 200,000), holding every answer
    back meanwhile: under `bench.webchat` they took 100–150 ms, about once a minute.
    Cyclic garbage that outlives two young passes (rare: a closed connection's frames)
    waits longer to be freed; the bench's memory stays flat."""
    gc.collect()
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, 100)


def run_async(command: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T | None]:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        try:
            return asyncio.run(command(*args, **kwargs))
        except StartupError as error:
            fail(str(error), 2)
        except DBAPIError as error:
            database_failed(error)
        except KeyboardInterrupt:
            return None
        return None

    return wrapper


def day(value: str, option: str, _: Callable[[str], str]) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(
            _(
                "{option} “{value}” is not a date: write it as YYYY-MM-DD, for example 2026-05-01."
            ).format(option=option, value=value),
            2,
        )
        raise  # unreachable; for type checkers
