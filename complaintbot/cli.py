"""The `complaintbot` command. The only place that exits the process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from argon2 import PasswordHasher
from sqlalchemy.exc import DBAPIError

from bot.contact import normalise_email, normalise_phone
from bot.domain import CaseStatus
from bot.i18n import Translator
from bot.labels import timeline_label
from bot.lifecycle import Facts, Nature, Responsibility, Severity
from channels import registry
from complaintbot import logs
from complaintbot.app import StartupError, followup_config, open_core, open_engine, run, serve
from complaintbot.cli_audit import access_verification, audit_access, record_cli_access
from complaintbot.cli_support import clock as _clock
from complaintbot.cli_support import database_failed as _database_failed
from complaintbot.cli_support import day as _day
from complaintbot.cli_support import fail as _fail
from complaintbot.cli_support import gettext as _gettext
from complaintbot.cli_support import run_async as _async
from complaintbot.cli_support import settings as _settings
from complaintbot.cli_support import settle_heap
from complaintbot.cli_tokens import tokens
from complaintbot.settings import Settings, parse_customers
from reporting.export import LedgerFormat, Period, export_ledger
from reporting.reading import count_cases
from reporting.rows import LedgerSheet, six_months_before
from reporting.second_process import SecondProcessFailed
from reporting.tally import Customers
from scheduler.calendar import parse_duration
from storage import chain, migrate, queries
from storage import privacy as personal_data
from storage.files import EvidenceFiles, open_private, write_private_text
from storage.partners import DuplicatePartner, add_partner, disable_partner, list_partners
from storage.staff import (
    DuplicateStaffUser,
    add_staff_user,
    disable_staff_user,
    find_staff_user,
    list_staff_users,
    reset_staff_password,
)
from web.case_json import case_document
from web.identity import cli_operator


@click.group()
def main() -> None:
    """complaintbot: complaint intake and follow-up for regulated companies."""
    # Every file and directory a command creates holds personal data (the database,
    # the log, evidence, exports): closed to other users whatever the caller's umask.
    previous = os.umask(0o077)
    click.get_current_context().call_on_close(lambda: os.umask(previous))


def _secrets(settings: Settings) -> list[str]:
    """What no log line may show."""
    return [
        settings.TELEGRAM_BOT_TOKEN or "",
        settings.TELEGRAM_WEBHOOK_SECRET or "",
        settings.METRICS_TOKEN or "",
        settings.IMAP_PASSWORD or "",
        settings.SMTP_PASSWORD or "",
    ]


@main.command("run")
@_async
async def run_command() -> None:
    """Run the bot: Telegram when TELEGRAM_BOT_TOKEN is set, email when IMAP_HOST is set
    (both when both are), otherwise a console chat."""
    settings = _settings()
    console = any(channel.interactive for channel in registry.configured(settings))
    logs.configure(
        settings.LOG_LEVEL,
        _secrets(settings),
        settings.DATA_DIR / "complaintbot.log" if console else None,
        log_format=settings.LOG_FORMAT,
        worker_id=settings.worker_id,
    )
    settle_heap()
    await run(settings, clock=_clock())


@main.command("serve")
@_async
async def serve_command() -> None:
    """Serve: the configured channels (Telegram by webhook when TELEGRAM_WEBHOOK_URL is
    set, otherwise by polling) and HTTP on HOST:PORT (/healthz, /readyz, /metrics). Run
    any number on one PostgreSQL database."""
    settings = _settings()
    logs.configure(
        settings.LOG_LEVEL,
        _secrets(settings),
        log_format=settings.LOG_FORMAT,
        worker_id=settings.worker_id,
    )
    settle_heap()
    await serve(settings, clock=_clock())


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@_async
async def db_upgrade() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    engine = open_engine(settings)
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
        await record_cli_access(core.engine, "case_list", detail={"status": status})
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
        if detail is not None:
            await record_cli_access(core.engine, "case_view", detail.case.case_no)
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    if detail is None:
        _fail(_("No case {case_no}.").format(case_no=case_no), 1)
        return
    document = case_document(
        detail, settings.zone, EvidenceFiles(settings.DATA_DIR), now=_clock().now()
    )
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    labels = {
        "case_no": _("Case number"),
        "status": _("Status"),
        "channel": _("Channel"),
        "source": _("Source"),
        "external_ref": _("External reference"),
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
    files = {
        "ok": _("file present, checksum matches"),
        "missing": _("file missing"),
        "mismatch": _("file does not match its checksum"),
        "erased": _("file erased"),
    }
    for item in document["evidence"]:
        click.echo(
            f"  {item['name']}  {item['mime']}  {item['size']}  sha256:{item['sha256']}"
            f"  {_local(_moment(item['received_at']), settings.zone)}  {files[item['file']]}"
        )
    _echo_story(document, detail, settings.zone, _)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _echo_story(
    document: dict[str, Any], detail: queries.CaseDetail, zone: ZoneInfo, _: Callable[[str], str]
) -> None:
    """The deadlines, the timeline with each event's content, and every edited message's
    versions, for `cases show`."""
    names = {
        "receipt": _("Receipt"),
        "first_response": _("First response"),
        "resolution": _("Resolution"),
    }
    outcomes = {"met": _("met"), "missed": _("missed"), "pending": _("pending"), None: "-"}
    click.echo(_("Deadlines") + ":")
    for deadline in document["deadlines"]:
        click.echo(
            "  "
            + _("{deadline}: due {due}, done {done}: {outcome}").format(
                deadline=names.get(deadline["name"], deadline["name"]),
                due=_local(_moment(deadline["due_at"]), zone),
                done=_local(_moment(deadline["done_at"]), zone),
                outcome=outcomes[deadline["outcome"]],
            )
        )
    _echo_referrals(document, zone, _)
    click.echo(_("Timeline") + ":")
    for event in detail.timeline:
        who = detail.actors.get(event.actor)
        actor = f"{who} ({event.actor})" if who else event.actor
        moment = event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        label = timeline_label(event.kind, event.payload, _)
        click.echo(f"  {moment}  {actor}  {event.kind}" + (f"  ({label})" if label else ""))
        for key, value in event.payload.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            click.echo(f"      {key}: " + str(shown).replace("\n", "\n        "))
    edited = [m for m in document["messages"] if len(m["versions"]) > 1]
    if edited:
        click.echo(_("Edited messages") + ":")
    for message in edited:
        click.echo(f"  {message['direction']} {message['channel']} #{message['message_id']}")
        for number, version in enumerate(message["versions"], start=1):
            moment = _local(_moment(version["at"]), zone)
            click.echo(f"    v{number}  {moment}  {version['text']}")


def _echo_referrals(document: dict[str, Any], zone: ZoneInfo, _: Callable[[str], str]) -> None:
    """Each referral to a partner and where its wait stands, for `cases show`."""
    if not document["referrals"]:
        return
    outcomes = {
        "pending": _("pending"),
        "answered": _("answered"),
        "answered_late": _("answered late"),
        "missed": _("missed"),
    }
    click.echo(_("Referred to partners") + ":")
    for referral in document["referrals"]:
        click.echo(
            "  "
            + _("{partner}: asked {asked}, due {due}, answered {answered}: {outcome}").format(
                partner=referral["partner"],
                asked=_local(_moment(referral["asked_at"]), zone),
                due=_local(_moment(referral["due_at"]), zone),
                answered=_local(_moment(referral["answered_at"]), zone),
                outcome=outcomes[referral["outcome"]],
            )
        )


def _operate(agent: str, command: str, case_no: str, text: str) -> None:
    """Runs a desk command as `agent`; prints the answers; exits 1 when it was refused."""

    async def go() -> tuple[bool, list[str]]:
        async with open_core(_settings(), _clock()) as core:
            operator = await cli_operator(core.engine, agent)
            number = case_no.strip().upper()
            done, answers = await core.bot.operate(operator, command, number, text)
            detail = {"command": command, "done": done, "agent": operator.name}
            await record_cli_access(core.engine, "case_action", number, detail)
            return done, answers

    try:
        done, answers = asyncio.run(go())
    except StartupError as error:
        _fail(str(error), 2)
        return
    except DBAPIError as error:
        _database_failed(error)
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
    if not text.strip():
        _ = _gettext()
        _fail(_("Nothing was sent: the reply's TEXT is empty."), 2)
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


@cases.command("refer")
@click.argument("case_no")
@click.argument("key")
@click.argument("text")
@click.option(
    "--within", default=None, help="The partner's deadline: 4h, 3d, 4wh, 2wd (their usual time)."
)
@_AGENT
def cases_refer(case_no: str, key: str, text: str, within: str | None, agent: str) -> None:
    """Ask the partner KEY to investigate CASE_NO; TEXT is the question (start it with
    "contact" to share the complainant's contact)."""
    _ = _gettext()
    if within is not None:
        try:
            parse_duration(within)
        except ValueError:
            _fail(
                _("--within “{text}” is not a duration; write it like 4h, 3d, 4wh or 2wd.").format(
                    text=within
                ),
                2,
            )
    if not text.strip():
        _fail(_("Nothing was sent: the referral's TEXT is empty."), 2)
    _operate(agent, "refer", case_no, " ".join(p for p in (key, within, text.strip()) if p))


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


@main.group()
def partners() -> None:
    """The partners a case can be referred to for investigation."""


_PARTNER_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


@partners.command("add")
@click.argument("key")
@click.option("--name", required=True, help="The partner's name, as agents and mails show it.")
@click.option("--email", "address", required=True, help="Where referrals are mailed.")
@click.option(
    "--sla", default=None, metavar="DURATION", help="Their usual time to answer (3wd, 2d, 8h)."
)
@_async
async def partners_add(key: str, name: str, address: str, sla: str | None) -> None:
    """Add the partner KEY (the word agents write after /refer)."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    key = key.strip().lower()
    if not _PARTNER_KEY.match(key):
        _fail(
            _(
                "“{key}” cannot be a partner key: use up to 32 letters, digits, '-', '_' "
                "or '.', for example paychannel."
            ).format(key=key),
            2,
        )
    email = normalise_email(address.strip())
    if email is None:
        _fail(_("“{email}” is not a valid email address.").format(email=address), 2)
        return
    if sla is not None:
        try:
            sla = str(parse_duration(sla))
        except ValueError:
            _fail(_duration_problem(sla, _), 2)
            return
    if not name.strip():
        _fail(_("The partner needs a name: --name NAME."), 2)
    async with open_core(settings) as core:
        try:
            await add_partner(core.engine, key, name.strip(), email, sla, _clock().now())
        except DuplicatePartner:
            _fail(_("A partner with the key {key} already exists.").format(key=key), 1)
    click.echo(_("Partner {key} added: {name} <{email}>.").format(key=key, name=name, email=email))


def _duration_problem(text: str, _: Callable[[str], str]) -> str:
    return _("“{text}” is not a duration: write it like 8h, 2d or 3wd (working days).").format(
        text=text
    )


@partners.command("list")
@_async
async def partners_list() -> None:
    """Every partner: key, name, address, SLA, and whether it is disabled."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    async with open_core(settings) as core:
        rows = await list_partners(core.engine)
    if not rows:
        click.echo(_("No partners."))
        return
    for row in rows:
        click.echo(
            "  ".join(
                [
                    row.key,
                    row.name,
                    row.email,
                    row.sla or "-",
                    _("disabled") if row.disabled else _("active"),
                ]
            )
        )


@partners.command("disable")
@click.argument("key")
@_async
async def partners_disable(key: str) -> None:
    """No more referrals to the partner KEY; earlier referrals stay on their cases."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    async with open_core(settings) as core:
        found = await disable_partner(core.engine, key.strip().lower())
    if not found:
        _fail(_("No partner has the key {key}.").format(key=key), 1)
    click.echo(_("Partner {key} disabled.").format(key=key.strip().lower()))


@main.group()
def users() -> None:
    """The staff users of the staff web and API: agents, supervisors, auditors."""


_LOGIN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_ROLES = ("agent", "supervisor", "auditor")
_MIN_PASSWORD = 12
_PASSWORD_FILE = click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the password from the first line of this file instead of asking for it.",
)


def _password(path: Path | None, _: Callable[[str], str]) -> str:
    """The new password, from the file's first line or asked twice; exits 2 when it is
    unreadable or shorter than the minimum. Never echoed, printed or logged."""
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = _reason(error) if isinstance(error, OSError) else str(error)
            _fail(
                _("Cannot read the password file {path}: {error}").format(path=path, error=reason),
                2,
            )
            raise  # unreachable; for type checkers
        password = lines[0].strip() if lines else ""
    else:
        # Hidden input reads the terminal (getpass opens /dev/tty); when the password
        # comes through a pipe there is no terminal to hide it on, and reading /dev/tty
        # would wait for a person instead of the pipe.
        password = click.prompt(
            _("Password"),
            hide_input=sys.stdin.isatty(),
            confirmation_prompt=_("Repeat the password"),
            prompt_suffix=": ",
        )
    if len(password) < _MIN_PASSWORD:
        _fail(
            _("The password is too short: use at least {count} characters.").format(
                count=_MIN_PASSWORD
            ),
            2,
        )
    return password


@users.command("add")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice(_ROLES), help="What the user may do.")
@click.option("--name", default=None, help="The person's name (default: the login).")
@click.option("--team", default=None, help="The team they work in.")
@click.option(
    "--telegram-id", type=click.IntRange(min=1), default=None, help="Their Telegram user id."
)
@_PASSWORD_FILE
@_async
async def users_add(
    login: str,
    role: str,
    name: str | None,
    team: str | None,
    telegram_id: int | None,
    password_file: Path | None,
) -> None:
    """Add the staff user LOGIN; asks for the password twice unless --password-file."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    login = login.strip().lower()
    if not _LOGIN.match(login):
        _fail(
            _(
                "“{login}” cannot be a login: use up to 64 letters, digits, '-', '_' "
                "or '.', for example li.lei."
            ).format(login=login),
            2,
        )
    password_hash = PasswordHasher().hash(_password(password_file, _))
    async with open_core(settings) as core:
        try:
            await add_staff_user(
                core.engine,
                login,
                (name or "").strip() or login,
                role,
                (team or "").strip() or None,
                telegram_id,
                password_hash,
                _clock().now(),
            )
        except DuplicateStaffUser as error:
            if error.field == "telegram_id":
                _fail(
                    _("The Telegram id {id} already belongs to another staff user.").format(
                        id=telegram_id
                    ),
                    1,
                )
            _fail(_("A staff user with the login {login} already exists.").format(login=login), 1)
        await record_cli_access(core.engine, "user_add", login, {"role": role, "team": team})
    click.echo(_("Staff user {login} added as {role}.").format(login=login, role=role))


@users.command("list")
@_async
async def users_list() -> None:
    """Every staff user: login, name, role, team, Telegram id, and whether it is disabled."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    async with open_core(settings) as core:
        rows = await list_staff_users(core.engine)
    if not rows:
        click.echo(_("No staff users."))
        return
    for row in rows:
        click.echo(
            "  ".join(
                [
                    row.login,
                    row.name,
                    row.role,
                    row.team or "-",
                    str(row.telegram_id) if row.telegram_id is not None else "-",
                    _("disabled") if row.disabled else _("active"),
                ]
            )
        )


def _no_staff_user(login: str, _: Callable[[str], str]) -> None:
    _fail(_("No staff user has the login {login}.").format(login=login), 1)


@users.command("disable")
@click.argument("login")
@_async
async def users_disable(login: str) -> None:
    """LOGIN may no longer sign in; what they did stays on record under their name."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    login = login.strip().lower()
    async with open_core(settings) as core:
        found = await disable_staff_user(core.engine, login)
        if found:
            await record_cli_access(core.engine, "user_disable", login)
    if not found:
        _no_staff_user(login, _)
    click.echo(_("Staff user {login} disabled.").format(login=login))


@users.command("reset-password")
@click.argument("login")
@_PASSWORD_FILE
@_async
async def users_reset_password(login: str, password_file: Path | None) -> None:
    """Give LOGIN a new password; asks for it twice unless --password-file."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    login = login.strip().lower()
    async with open_core(settings) as core:
        # Said before the password is asked: typing one for nobody helps no one.
        if await find_staff_user(core.engine, login) is None:
            _no_staff_user(login, _)
        password_hash = PasswordHasher().hash(_password(password_file, _))
        found = await reset_staff_password(core.engine, login, password_hash, _clock().now())
        if found:
            await record_cli_access(core.engine, "user_reset_password", login)
    if not found:
        _no_staff_user(login, _)
    click.echo(_("Password of staff user {login} changed.").format(login=login))


@main.group()
def audit() -> None:
    """Evidence that the records were not changed."""


audit.add_command(audit_access)


@audit.command("verify")
@click.option("--case", "case_no", default=None, help="Check only this case's timeline.")
@_async
async def audit_verify(case_no: str | None) -> None:
    """Check every case's timeline chain, the access log's chain and the anchor files of
    AUDIT_ANCHOR_DIR; exit 1 naming the first broken event of each case, and each entry
    or anchored head that does not match."""
    settings = _settings()
    number = case_no.strip().upper() if case_no else None
    async with open_core(settings) as core:
        result = await chain.verify_database(core.engine, number)
        # One case's check is about its timeline only.
        access = (True, []) if number else await access_verification(core.engine, settings)
    tr = Translator(settings.DEFAULT_LOCALE)
    _, ngettext = tr.gettext, tr.ngettext
    if number and result.cases == 0:
        _fail(_("No case {case_no}.").format(case_no=case_no), 1)
        return
    if result.intact:
        click.echo(
            _("Timeline intact: {events} in {cases}.").format(
                events=ngettext("{count} event", "{count} events", result.events).format(
                    count=result.events
                ),
                cases=ngettext("{count} case", "{count} cases", result.cases).format(
                    count=result.cases
                ),
            )
        )
    else:
        _echo_breaks(result, tr)
    access_intact, lines = access
    for line in lines:
        click.echo(line)
    if not result.intact:
        summary = ngettext(
            "Timeline broken in {broken} of {cases} case.",
            "Timeline broken in {broken} of {cases} cases.",
            result.cases,
        ).format(broken=len(result.breaks), cases=result.cases)
        _fail(summary if result.breaks else _("Whole cases were deleted."), 1)
    if not access_intact:
        _fail(_("The access log or its anchors do not match."), 1)


def _echo_breaks(result: chain.Verification, tr: Translator) -> None:
    _, ngettext = tr.gettext, tr.ngettext
    problems = {
        "changed": _("its content does not match its hash (changed after it was written)"),
        "out_of_order": _(
            "it does not follow the event before it (an event was deleted, inserted or moved)"
        ),
        "truncated": _("the timeline ends here but went further (newer events were deleted)"),
    }
    for found in result.breaks:
        if found.problem == "missing":
            click.echo(
                _("{case_no}: its timeline events are gone (deleted).").format(
                    case_no=found.case_no
                )
            )
            continue
        click.echo(
            _("{case_no}: event {event_id} (position {seq}): {problem}").format(
                case_no=found.case_no,
                event_id=found.event_id,
                seq=found.seq,
                problem=problems[found.problem],
            )
        )
    for gap in result.missing_cases:
        click.echo(
            _("{day}: {issued} but {found}.").format(
                day=gap.day,
                issued=ngettext(
                    "{count} case number was issued", "{count} case numbers were issued", gap.issued
                ).format(count=gap.issued),
                found=ngettext(
                    "only {count} case exists", "only {count} cases exist", gap.found
                ).format(count=gap.found),
            )
        )


_FROM = click.option("--from", "first", default=None, metavar="DATE", help="First day, YYYY-MM-DD.")
_TO = click.option(
    "--to", "last", default=None, metavar="DATE", help="Last day (included), YYYY-MM-DD."
)


@main.group()
def ledger() -> None:
    """The ledger (台账): every case received in a period, for the regulator."""


@ledger.command("export")
@_FROM
@_TO
@click.option("--format", "kind", required=True, type=click.Choice([f.value for f in LedgerFormat]))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write.",
)
@click.option(
    "--unmasked",
    is_flag=True,
    help="Full complainant names and contacts instead of masked ones (stated in the file).",
)
@click.option(
    "--reason", "why", default=None, help="Why the export is needed; required with --unmasked."
)
@_async
async def ledger_export(
    first: str | None,
    last: str | None,
    kind: str,
    output: Path,
    unmasked: bool,
    why: str | None,
) -> None:
    """Write one row per case received from --from to --to (default: the last six months
    up to today), in the language of DEFAULT_LOCALE and the time zone of TIMEZONE.
    Recorded in the access log, with the reason and the operating system user."""
    settings = _settings()
    tr = Translator(settings.DEFAULT_LOCALE)
    _, ngettext = tr.gettext, tr.ngettext
    why = (why or "").strip() or None
    if unmasked and why is None:
        _fail(_("--unmasked needs --reason: say why the full names and contacts are needed."), 2)
    now = _clock().now()
    period = _period(first, last, now, settings.zone, _)
    first_day, last_day = period.first, period.last
    calendar = followup_config(settings).calendar
    sheet = LedgerSheet(settings.DEFAULT_LOCALE, settings.zone, masked=not unmasked)
    async with open_core(settings) as core:
        try:
            # Made (or emptied) 0600 first: the export writes into a file only its owner reads.
            open_private(output).close()
        except OSError as error:
            _fail(_("Cannot write {path}: {error}").format(path=output, error=_reason(error)), 1)
        # Recorded before a row is written: no export without its trace.
        detail = {"masked": not unmasked, "reason": why, "format": kind, "file": str(output)}
        await record_cli_access(core.engine, "ledger_export", f"{first_day}..{last_day}", detail)
        total = await count_cases(core.engine, *period.bounds(settings.zone))
        try:
            with _progress(total, _("Exporting the ledger")) as progress:
                written = await export_ledger(
                    core.engine,
                    output,
                    LedgerFormat(kind),
                    sheet,
                    calendar,
                    period,
                    now,
                    total,
                    progress,
                )
        except OSError as error:
            _fail(_("Cannot write {path}: {error}").format(path=output, error=error), 1)
            return
        except (SecondProcessFailed, DBAPIError) as error:
            reason = error.orig if isinstance(error, DBAPIError) else error
            _fail(
                _("The export stopped ({error}); {path} is incomplete.").format(
                    path=output, error=str(reason).strip()
                ),
                1,
            )
            return
    click.echo(
        ngettext(
            "{count} case received from {first} to {last} written to {path}.",
            "{count} cases received from {first} to {last} written to {path}.",
            written,
        ).format(count=written, first=first_day, last=last_day, path=output)
    )


def _period(
    first: str | None, last: str | None, now: datetime, zone: ZoneInfo, _: Callable[[str], str]
) -> Period:
    """--from and --to; by default the six months up to today."""
    last_day = _day(last, "--to", _) if last else now.astimezone(zone).date()
    first_day = _day(first, "--from", _) if first else six_months_before(last_day)
    if first_day > last_day:
        _fail(
            _("--from {first} is after --to {last}: the period would be empty.").format(
                first=first_day, last=last_day
            ),
            2,
        )
    return Period(first_day, last_day)


@main.command("report")
@_FROM
@_TO
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    help="The directory to write report.html, metrics.json and charts/ into.",
)
@click.option(
    "--customers",
    default=None,
    metavar="N",
    help="How many customers the company has, for the complaint rate per 10,000 "
    "customers (default: CUSTOMER_COUNT; neither: the rate is stated as missing).",
)
@_async
async def report_command(
    first: str | None, last: str | None, output: Path, customers: str | None
) -> None:
    """The service-quality report of the cases received from --from to --to (default: the
    last six months up to today), computed from the same rows as the ledger."""
    # Imported here: the page's templates and charts are for this command alone.
    from reporting.quality import quality_metrics
    from reporting.report import write_report

    settings = _settings()
    tr = Translator(settings.DEFAULT_LOCALE)
    _, ngettext = tr.gettext, tr.ngettext
    now = _clock().now()
    period = _period(first, last, now, settings.zone, _)
    counted: Customers | None = None
    if customers is not None:
        count = parse_customers(customers)
        if count is None:
            _fail(
                _(
                    "--customers “{value}” is not a number of customers: write a whole number "
                    "above 0, for example 1000000."
                ).format(value=customers),
                2,
            )
            return
        counted = Customers(count, "--customers")
    elif settings.CUSTOMER_COUNT is not None:
        counted = Customers(settings.CUSTOMER_COUNT, "CUSTOMER_COUNT")
    async with open_core(settings) as core:
        total = await count_cases(core.engine, *period.bounds(settings.zone))
        with _progress(total, _("Computing the report")) as progress:
            metrics = await quality_metrics(
                core.engine,
                settings.zone,
                followup_config(settings).calendar,
                period,
                settings.SATISFIED_THRESHOLD,
                now,
                progress,
                counted,
            )
        await record_cli_access(core.engine, "report_view", f"{period.first}..{period.last}")
    try:
        page = write_report(metrics, output, settings.DEFAULT_LOCALE)
    except OSError as error:
        _fail(_("Cannot write {path}: {error}").format(path=output, error=error), 1)
        return
    click.echo(
        ngettext(
            "Quality report of {count} case received from {first} to {last}: {path}",
            "Quality report of {count} cases received from {first} to {last}: {path}",
            metrics["cases"],
        ).format(count=metrics["cases"], first=period.first, last=period.last, path=page)
    )
    if metrics["checks_failed"]:
        click.echo(
            ngettext(
                "{failed} consistency check failed; the report lists it.",
                "{failed} consistency checks failed; the report lists them.",
                metrics["checks_failed"],
            ).format(failed=metrics["checks_failed"]),
            err=True,
        )


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; nothing when the output goes to a file or a pipe."""
    if not sys.stderr.isatty():
        yield lambda _rows: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


@main.group()
def privacy() -> None:
    """A person's data on request (PIPL): export and erasure."""


_CONTACT = click.option("--contact", required=True, help="The person's phone number or email.")


def _contact(value: str, _: Callable[[str], str]) -> personal_data.Contact:
    email = normalise_email(value.strip()) if "@" in value else None
    phone = None if email else normalise_phone(value)
    if email is None and phone is None:
        _fail(
            _("“{contact}” is neither a phone number nor an email address.").format(contact=value),
            1,
        )
    return personal_data.Contact(phone=phone, email=email)


def _unknown_person(contact: str, _: Callable[[str], str]) -> None:
    _fail(_("No one with the contact {contact} is on record.").format(contact=contact), 1)


@privacy.command("export")
@_CONTACT
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the JSON to this file instead of printing it.",
)
@_async
async def privacy_export(contact: str, output: Path | None) -> None:
    """Everything stored about one person, as JSON; recorded on their cases' timelines."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    wanted = _contact(contact, _)
    if output is not None:
        _directory_exists(output, _)  # before the export is made (and recorded)
    async with open_core(settings) as core:
        document = await personal_data.export(core.engine, wanted, _clock().now())
    if document is None:
        _unknown_person(contact, _)
        return
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if output is None:
        click.echo(text)
        return
    try:
        await asyncio.to_thread(write_private_text, output, text + "\n")
    except OSError as error:
        _fail(_("Cannot write {path}: {error}").format(path=output, error=_reason(error)), 1)
    click.echo(_("Written to {path}.").format(path=output))


@privacy.command("erase")
@_CONTACT
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_async
async def privacy_erase(contact: str, yes: bool) -> None:
    """Erase one person's personal data; the cases, their times and the chain stay."""
    settings = _settings()
    tr = Translator(settings.DEFAULT_LOCALE)
    _, ngettext = tr.gettext, tr.ngettext
    wanted = _contact(contact, _)
    question = _("Erase the personal data of {contact}? This cannot be undone.")
    if not yes and not click.confirm(question.format(contact=contact)):
        _fail(_("Nothing was erased."), 1)
        return
    async with open_core(settings) as core:
        done = await personal_data.erase(core.engine, settings.DATA_DIR, wanted, _clock().now())
    if done is None:
        _unknown_person(contact, _)
        return
    click.echo(
        ngettext(
            "Personal data erased from {count} case: {cases}.",
            "Personal data erased from {count} cases: {cases}.",
            len(done.cases),
        ).format(count=len(done.cases), cases=", ".join(done.cases))
    )
    click.echo(
        _("{messages}, {events}, {files}.").format(
            messages=ngettext(
                "{count} message emptied", "{count} messages emptied", done.messages
            ).format(count=done.messages),
            events=ngettext(
                "{count} timeline event redacted", "{count} timeline events redacted", done.events
            ).format(count=done.events),
            files=ngettext(
                "{count} file removed", "{count} files removed", done.files_removed
            ).format(count=done.files_removed),
        )
    )


@privacy.command("purge")
@click.option("--dry-run", is_flag=True, help="Only list the cases whose data would go.")
@click.option("--yes", is_flag=True, help="Erase now, without asking.")
@_async
async def privacy_purge(dry_run: bool, yes: bool) -> None:
    """Erase the personal data of cases archived longer ago than RETENTION_DAYS (what the
    sweep does), now; with --dry-run only list them."""
    settings = _settings()
    tr = Translator(settings.DEFAULT_LOCALE)
    _, ngettext = tr.gettext, tr.ngettext
    if settings.RETENTION_DAYS is None:
        _fail(
            _(
                "Retention is off: set RETENTION_DAYS to the number of days archived cases"
                " keep their personal data."
            ),
            1,
        )
        return
    if not dry_run and not yes:
        _fail(_("Say --dry-run to list what would be erased, or --yes to erase it now."), 1)
        return
    async with open_core(settings, _clock()) as core:
        assert core.retention is not None
        if dry_run:
            due = await core.retention.due()
            for item in due:
                click.echo(
                    _("{case_no}  archived {date}").format(
                        case_no=item.case_no, date=item.archived_at.date().isoformat()
                    )
                )
            click.echo(
                ngettext(
                    "{count} case would lose its personal data; nothing was changed.",
                    "{count} cases would lose their personal data; nothing was changed.",
                    len(due),
                ).format(count=len(due))
            )
            return
        erased = await core.retention.sweep()
    click.echo(
        ngettext(
            "Personal data erased from {count} case: {cases}.",
            "Personal data erased from {count} cases: {cases}.",
            len(erased),
        ).format(count=len(erased), cases=", ".join(erased) or "-")
    )


def _directory_exists(output: Path, _: Callable[[str], str]) -> None:
    directory = output.absolute().parent
    if not directory.is_dir():
        _fail(
            _("Cannot write {path}: the directory {directory} does not exist.").format(
                path=output, directory=directory
            ),
            1,
        )


def _reason(error: OSError) -> str:
    """What went wrong with a file, without the errno and the path said again."""
    return error.strerror or str(error)


def _iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment else None


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"


# Command groups kept in modules of their own.
main.add_command(tokens)
