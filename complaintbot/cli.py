"""The `complaintbot` command. The only place that exits the process."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from bot.domain import CaseStatus
from bot.i18n import Translator
from bot.lifecycle import Facts, Nature, Responsibility, Severity
from complaintbot import logs
from complaintbot.app import StartupError, open_core, run
from complaintbot.settings import Settings, SettingsError, load_settings
from storage import migrate, queries
from storage.database import create_engine

T = TypeVar("T")


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        _fail(str(error), 2)
        raise  # unreachable; for type checkers


def _async(command: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T | None]:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        try:
            return asyncio.run(command(*args, **kwargs))
        except StartupError as error:
            _fail(str(error), 2)
        except KeyboardInterrupt:
            return None
        return None

    return wrapper


@click.group()
def main() -> None:
    """complaintbot: complaint intake and follow-up for regulated companies."""


@main.command("run")
@_async
async def run_command() -> None:
    """Run the bot: Telegram when TELEGRAM_BOT_TOKEN is set, email when IMAP_HOST is set
    (both when both are), otherwise a console chat."""
    settings = _settings()
    console = not settings.TELEGRAM_BOT_TOKEN and not settings.IMAP_HOST
    logs.configure(
        settings.LOG_LEVEL,
        [
            settings.TELEGRAM_BOT_TOKEN or "",
            settings.IMAP_PASSWORD or "",
            settings.SMTP_PASSWORD or "",
        ],
        settings.DATA_DIR / "complaintbot.log" if console else None,
    )
    await run(settings)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@_async
async def db_upgrade() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    engine = create_engine(settings.DATABASE_URL)
    try:
        await migrate.upgrade(engine)
        click.echo(f"schema at revision {await migrate.current_revision(engine)}")
    except OSError as error:
        raise StartupError(f"Cannot reach the database in DATABASE_URL: {error}") from None
    finally:
        await engine.dispose()


@main.group()
def cases() -> None:
    """Inspect cases."""


@cases.command("list")
@click.option("--status", type=click.Choice([s.value for s in CaseStatus]), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@_async
async def cases_list(status: str | None, as_json: bool) -> None:
    """List cases, newest first."""
    settings = _settings()
    async with open_core(settings) as core:
        rows = await queries.list_cases(core.engine, status)
    zone = settings.zone
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "case_no": r.case_no,
                        "status": r.status,
                        "channel": r.channel,
                        "category": r.category,
                        "name": r.name,
                        "subject": r.subject,
                        "received_at": _iso(r.received_at, zone),
                        "response_due_at": _iso(r.response_due_at, zone),
                    }
                    for r in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    if not rows:
        click.echo(_("No cases."))
        return
    for r in rows:
        click.echo(
            "  ".join(
                [
                    r.case_no,
                    r.status,
                    r.category,
                    _local(r.received_at, zone),
                    _("due {time}").format(time=_local(r.response_due_at, zone)),
                    r.name,
                    r.subject,
                ]
            )
        )


@cases.command("show")
@click.argument("case_no")
@click.option("--json", "as_json", is_flag=True, help="The case as one JSON object.")
@_async
async def cases_show(case_no: str, as_json: bool) -> None:
    """Show one case with its evidence and timeline."""
    settings = _settings()
    async with open_core(settings) as core:
        detail = await queries.case_detail(core.engine, case_no.strip().upper())
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    if detail is None:
        _fail(_("No case {case_no}.").format(case_no=case_no), 1)
        return
    document = case_document(detail, settings.zone)
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    labels = {
        "case_no": _("Case number"),
        "status": _("Status"),
        "channel": _("Channel"),
        "category": _("Category"),
        "subject": _("About"),
        "description": _("What happened"),
        "expectation": _("Expected outcome"),
        "received_at": _("Received"),
        "receipt_sent_at": _("Receipt sent"),
        "response_due_at": _("Response due"),
        "first_response_at": _("First response"),
        "resolved_at": _("Resolved"),
        "satisfaction": _("Satisfaction"),
    }
    for key, label in labels.items():
        click.echo(f"{label}: {document[key] if document[key] is not None else '-'}")
    person = document["complainant"]
    contact = " / ".join([person["name"], person["phone"] or "-", person["email"] or "-"])
    click.echo(_("Complainant") + ": " + contact)
    click.echo(_("Evidence") + ":")
    for item in document["evidence"]:
        click.echo(f"  {item['name']}  {item['mime']}  {item['size']}  sha256:{item['sha256']}")
    click.echo(_("Timeline") + ":")
    for event in document["timeline"]:
        click.echo(f"  {event['at']}  {event['actor']}  {event['event']}")


def _operate(agent: str, command: str, case_no: str, text: str) -> None:
    """Runs a desk command as `agent`; prints the answers; exits 1 when it was refused."""

    async def go() -> tuple[bool, list[str]]:
        async with open_core(_settings()) as core:
            return await core.bot.operate(agent, command, case_no.strip().upper(), text)

    try:
        done, answers = asyncio.run(go())
    except StartupError as error:
        _fail(str(error), 2)
        return
    for answer in answers:
        click.echo(answer, err=not done)
    if not done:
        sys.exit(1)


_AGENT = click.option(
    "--agent", required=True, help="Who does it (recorded on the timeline as the handler)."
)


@cases.command("reply")
@click.argument("case_no")
@click.argument("text")
@_AGENT
def cases_reply(case_no: str, text: str, agent: str) -> None:
    """Send TEXT to the complainant of CASE_NO."""
    _operate(agent, "reply", case_no, text)


@cases.command("note")
@click.argument("case_no")
@click.argument("text")
@_AGENT
def cases_note(case_no: str, text: str, agent: str) -> None:
    """Add an internal note (never sent to the complainant)."""
    _operate(agent, "note", case_no, text)


@cases.command("assign")
@click.argument("case_no")
@click.argument("assignee")
@_AGENT
def cases_assign(case_no: str, assignee: str, agent: str) -> None:
    """Make ASSIGNEE (@username, agent number or name) the handler of CASE_NO."""
    _operate(agent, "assign", case_no, assignee)


@cases.command("resolve")
@click.argument("case_no")
@click.argument("text")
@_AGENT
@click.option("--facts", required=True, type=click.Choice([v.value for v in Facts]))
@click.option("--nature", required=True, type=click.Choice([v.value for v in Nature]))
@click.option(
    "--responsibility", required=True, type=click.Choice([v.value for v in Responsibility])
)
@click.option("--severity", required=True, type=click.Choice([v.value for v in Severity]))
def cases_resolve(
    case_no: str,
    text: str,
    agent: str,
    facts: str,
    nature: str,
    responsibility: str,
    severity: str,
) -> None:
    """Resolve CASE_NO; TEXT is the result the complainant reads."""
    verification = (
        f"facts={facts} nature={nature} responsibility={responsibility} severity={severity}"
    )
    _operate(agent, "resolve", case_no, f"{verification} {text}")


def case_document(detail: queries.CaseDetail, zone: ZoneInfo) -> dict[str, Any]:
    """The JSON object of `cases show --json` (its field names are a public interface)."""
    case = detail.case
    return {
        "case_no": case.case_no,
        "status": case.status,
        "channel": case.channel,
        "category": case.category,
        "complainant": {
            "name": case.contact_name,
            "phone": case.contact_phone,
            "email": case.contact_email,
        },
        "subject": case.subject,
        "description": case.description,
        "expectation": case.expectation,
        "evidence": [
            {"name": e.name, "mime": e.mime, "size": e.size, "sha256": e.sha256}
            for e in detail.evidence
        ],
        "received_at": _iso(case.received_at, zone),
        "receipt_sent_at": _iso(case.receipt_sent_at, zone),
        "first_response_at": _iso(case.first_response_at, zone),
        "response_due_at": _iso(case.response_due_at, zone),
        "resolved_at": _iso(case.resolved_at, zone),
        "satisfaction": case.satisfaction,
        "handler": detail.handler,
        "escalated_at": _iso(case.escalated_at, zone),
        "resolution": case.resolution,
        "verification": case.verification,
        "timeline": [
            {**event.payload, "at": _iso(event.at, zone), "actor": event.actor, "event": event.kind}
            for event in detail.timeline
        ],
    }


def _iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment else None


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"
