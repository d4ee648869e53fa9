"""Logging set-up: one line per record, the case number when there is one, no secrets,
no personal data, and no flood of the same error.

What complainants wrote, their names, phones and addresses never go into a log line at
INFO or above: log calls name ids (message, update, delivery, timer) and case numbers.
As a last guard, an email address that slips in anyway (a mail server's refusal quoting
the recipient, say) is masked. An error that repeats itself — the database down, a
channel refusing every call — is written once, then at most once every
`REPEAT_INTERVAL` seconds with how many identical lines were held back.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

# Seconds between two lines of one repeated error.
REPEAT_INTERVAL = 60.0
_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


class _Redact(logging.Filter):
    """Replaces secrets (the bot token appears in Bot API URLs) wherever they show up,
    and email addresses in lines at INFO and above."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        changed = message
        for secret in self.secrets:
            changed = changed.replace(secret, "***")
        if record.levelno >= logging.INFO:
            changed = _EMAIL.sub("<address>", changed)
        if changed != message:
            record.msg, record.args = changed, None
        if not hasattr(record, "case_no"):
            record.case_no = "-"
        return True


class RepeatFilter(logging.Filter):
    """Lets the first of identical lines through, then at most one per `interval`
    seconds, saying how many were held back since the last one written.

    Lines are identical when the logger, the level, the message template, its arguments
    and the exception (type and text) are. Only WARNING and above are held back: INFO
    lines name a message or a case each, and are not repeated errors. `monotonic` is
    the clock (tests move it by hand).
    """

    MAX_KEPT = 1000  # identical-line keys remembered; older ones are forgotten first

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.monotonic = monotonic
        # key -> (when it was last written, how many were held back since)
        self._seen: dict[tuple[object, ...], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = self._key(record)
        now = self.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.interval:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        held = seen[1] if seen is not None else 0
        self._seen.pop(key, None)
        self._seen[key] = (now, 0)
        if len(self._seen) > self.MAX_KEPT:
            del self._seen[next(iter(self._seen))]
        if held:
            record.msg, record.args = f"{record.getMessage()} (repeated {held} times)", None
        return True

    @staticmethod
    def _key(record: logging.LogRecord) -> tuple[object, ...]:
        error = record.exc_info[1] if record.exc_info else None
        failure = (type(error).__name__, str(error)) if error is not None else None
        try:
            args = repr(record.args)
        except Exception:  # an argument whose repr fails: the template alone decides
            args = ""
        return (record.name, record.levelno, str(record.msg), args, failure)


def configure(level: str, secrets: list[str], log_file: Path | None = None) -> None:
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        log_file.chmod(0o600)  # an earlier log, made under a looser umask, closed too
    else:
        handler = logging.StreamHandler()
    handler.addFilter(RepeatFilter())
    handler.addFilter(_Redact(secrets))
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(case_no)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
