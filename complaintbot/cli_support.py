"""What every `complaintbot` command shares: the settings, the clock, failing in one
sentence, and running a coroutine as a command. The only place besides `cli` that
exits the process (for the commands)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
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
    clock = context.find_root().obj if context is not None else None
    return clock if clock is not None else SystemClock()


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


def async_command(command: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T | None]:
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
