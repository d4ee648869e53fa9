"""The access log on the command line: `audit access` lists it, `audit verify` checks it
with its anchor files, and the commands that touch personal data or staff users record
themselves in it (`record_cli_access`), under the operating system user who ran them."""

from __future__ import annotations

import csv
import getpass
import io
import json
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.i18n import Translator
from complaintbot.app import open_core
from complaintbot.cli_support import clock, day, fail, run_async, settings
from complaintbot.settings import Settings
from storage.access_log import (
    AccessEntry,
    StoredAccess,
    access_entries,
    access_head,
    record_access,
    verify_access_log,
)
from storage.anchors import ACCESS_LOG, check_anchors
from storage.chain import canonical

COLUMNS = ("seq", "at", "actor", "role", "via", "action", "target", "detail", "address", "hash")
# What starts a CSV cell a spreadsheet would run as a formula (as in reporting/export.py).
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def os_actor() -> str:
    """Who ran the command, as the access log names them."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return "os:unknown"


async def record_cli_access(
    engine: AsyncEngine,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Records a command's access: by the OS user, as operator, via the CLI."""
    entry = AccessEntry(
        at=clock().now(),
        actor=os_actor(),
        role="operator",
        action=action,
        target=target,
        detail=detail or {},
        via="cli",
    )
    await record_access(engine, entry)


def _row(entry: StoredAccess, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.astimezone(zone).isoformat(),
        "actor": entry.actor,
        "role": entry.role,
        "via": entry.via,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
        "address": entry.address,
        "hash": entry.hash,
    }


def _guarded(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if _FORMULA_START.match(text) else text


def as_csv(entries: list[StoredAccess], zone: ZoneInfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        row = _row(entry, zone)
        row["detail"] = canonical(row["detail"])
        writer.writerow([_guarded(row[column]) for column in COLUMNS])
    return out.getvalue()


@click.command("access")
@click.option("--from", "first", default=None, metavar="DATE", help="First day, YYYY-MM-DD.")
@click.option("--to", "last", default=None, metavar="DATE", help="Last day (included), YYYY-MM-DD.")
@click.option("--format", "kind", type=click.Choice(["csv", "json"]), default="csv")
@run_async
async def audit_access(first: str | None, last: str | None, kind: str) -> None:
    """Print the access log (who logged in, viewed, downloaded, exported or changed
    what) from --from to --to (default: all of it), times in TIMEZONE. Reading it is
    recorded in it too."""
    config = settings()
    _ = Translator(config.DEFAULT_LOCALE).gettext
    zone = config.zone
    start = day(first, "--from", _) if first else None
    end = day(last, "--to", _) if last else None
    if start and end and start > end:
        fail(
            _("--from {first} is after --to {last}: the period would be empty.").format(
                first=start, last=end
            ),
            2,
        )
    async with open_core(config) as core:
        period = {"from": first and str(start), "to": last and str(end), "format": kind}
        await record_cli_access(core.engine, "access_log_view", detail=period)
        entries = await access_entries(
            core.engine,
            datetime.combine(start, time(), tzinfo=zone) if start else None,
            datetime.combine(end + timedelta(days=1), time(), tzinfo=zone) if end else None,
        )
    if kind == "json":
        rows = [_row(entry, zone) for entry in entries]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        click.echo(as_csv(entries, zone), nl=False)


async def access_verification(engine: AsyncEngine, config: Settings) -> tuple[bool, list[str]]:
    """The access log's chain and every anchor file against the database: whether all
    holds, and the lines that say so (or what is wrong)."""
    tr = Translator(config.DEFAULT_LOCALE)
    _, ngettext = tr.gettext, tr.ngettext
    problems = await verify_access_log(engine)
    lines = [_("Access log: {problem}").format(problem=problem) for problem in problems]
    if not problems:
        count, _head = await access_head(engine)
        lines.append(
            ngettext(
                "Access log intact: {count} entry.", "Access log intact: {count} entries.", count
            ).format(count=count)
        )
    directory = config.AUDIT_ANCHOR_DIR
    if directory is None:
        return not problems, lines
    anchored = await _anchor_lines(engine, directory, tr)
    return not problems and not anchored[0], lines + anchored[1]


async def _anchor_lines(
    engine: AsyncEngine, directory: Path, tr: Translator
) -> tuple[int, list[str]]:
    _, ngettext = tr.gettext, tr.ngettext
    checked = await check_anchors(engine, directory)
    lines = []
    for problem in checked.problems:
        chain = _("the access log") if problem.chain == ACCESS_LOG else problem.chain
        if problem.problem == "unreadable":
            text = _("{anchor}: the anchor file cannot be read.")
        elif problem.problem == "missing":
            text = _("{anchor}: {chain} position {seq} is anchored but no longer exists.")
        else:
            text = _(
                "{anchor}: {chain} position {seq} differs from its anchor: the chain was "
                "changed and rebuilt after the anchor was written."
            )
        lines.append(text.format(anchor=problem.anchor, chain=chain, seq=problem.seq))
    if not checked.problems:
        lines.append(
            ngettext(
                "Anchors agree with the database: {count} file in {directory}.",
                "Anchors agree with the database: {count} files in {directory}.",
                checked.files,
            ).format(count=checked.files, directory=directory)
        )
    return len(checked.problems), lines
