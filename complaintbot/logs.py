"""Logging set-up: one line per record, the case number when there is one, no secrets,
no personal data, and no flood of the same error.

What complainants wrote, their names, phones and addresses never go into a log line at
INFO or above: log calls name ids (message, update, delivery, timer) and case numbers.
As a last guard, an email address that slips in anyway (a mail server's refusal quoting
the recipient, say) is masked. An error that repeats itself — the database down, a
channel refusing every call — is written once, then at most once every
`REPEAT_INTERVAL` seconds with how many identical lines were held back.

`log_format="json"` writes one JSON object a line (for a log collector): time (ISO 8601,
UTC), level, logger, message, case_no, channel (the record's `channel` when a log call
gives it in `extra`), worker, and for an exception "error": its class and message only.
The traceback is left out there (its chained exceptions may quote what someone wrote,
and a collector wants one line); secrets and addresses are taken out of the message and
the error alike.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
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
        changed = self.clean(message, record.levelno)
        if changed != message:
            record.msg, record.args = changed, None
        if not hasattr(record, "case_no"):
            record.case_no = "-"
        return True

    def clean(self, text: str, level: int) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        if level >= logging.INFO:
            text = _EMAIL.sub("<address>", text)
        return text


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


class JsonLines(logging.Formatter):
    """One JSON object per record; `_Redact` has already cleaned the message, and the
    error's text is cleaned here the same way (it is not part of the message)."""

    def __init__(self, worker_id: str | None, redact: _Redact) -> None:
        super().__init__()
        self.worker_id = worker_id
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        case_no = getattr(record, "case_no", None)
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "case_no": None if case_no in (None, "-") else str(case_no),
            "channel": _text_or_none(getattr(record, "channel", None)),
            "worker": self.worker_id,
        }
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            line["error"] = self.redact.clean(f"{type(error).__name__}: {error}", record.levelno)
        return json.dumps(line, ensure_ascii=False)


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def configure(
    level: str,
    secrets: list[str],
    log_file: Path | None = None,
    *,
    log_format: str = "text",
    worker_id: str | None = None,
) -> None:
    """Logging for a command: to `log_file` when given, else to standard error; as
    `log_format` "text" lines or "json" lines (see the module's docstring)."""
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        log_file.chmod(0o600)  # an earlier log, made under a looser umask, closed too
    else:
        handler = logging.StreamHandler()
    redact = _Redact(secrets)
    handler.addFilter(RepeatFilter())
    handler.addFilter(redact)
    if log_format == "json":
        handler.setFormatter(JsonLines(worker_id, redact))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(case_no)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
