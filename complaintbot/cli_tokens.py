"""`complaintbot tokens`: the API's bearer tokens (create, list, revoke).

Registered on `complaintbot.cli.main` (the helpers are `complaintbot.cli_support`). A
token is printed once, when it is made; the database keeps only its hash. Each creation
and revocation is in the access log.
"""

from __future__ import annotations

import re

import click

from bot.i18n import Translator
from bot.roles import StaffRole
from complaintbot.app import open_core
from complaintbot.cli_audit import record_cli_access
from complaintbot.cli_support import clock as _clock
from complaintbot.cli_support import fail as _fail
from complaintbot.cli_support import run_async as _async
from complaintbot.cli_support import settings as _settings
from storage.api_tokens import (
    DuplicateApiToken,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@click.group()
def tokens() -> None:
    """The bearer tokens of the API at /api/v1/, for CRMs and integrations."""


@tokens.command("create")
@click.option("--name", required=True, help="Who uses the token (a system: crm, regulator-feed).")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in StaffRole]),
    help="What it may do.",
)
@_async
async def tokens_create(name: str, role: str) -> None:
    """Make a token NAME with ROLE and print it, the only time it is shown."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    name = name.strip()
    if not _NAME.match(name):
        _fail(
            _(
                "“{name}” cannot be a token name: use up to 64 letters, digits, '-', '_' "
                "or '.', for example crm."
            ).format(name=name),
            2,
        )
    now = _clock().now()
    async with open_core(settings) as core:
        try:
            token = await create_api_token(core.engine, name, role, now)
        except DuplicateApiToken:
            _fail(_("A token named {name} already exists.").format(name=name), 1)
            return
        await record_cli_access(core.engine, "token_create", name, {"role": role})
    click.echo(token)
    click.echo(
        _(
            "Token {name} ({role}) made; it is shown only now. Send it as the header "
            "“Authorization: Bearer TOKEN” to /api/v1/."
        ).format(name=name, role=role),
        err=True,
    )


@tokens.command("list")
@_async
async def tokens_list() -> None:
    """Every token: name, role, when made, last used, revoked (never the token)."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    async with open_core(settings) as core:
        rows = await list_api_tokens(core.engine)
    if not rows:
        click.echo(_("No API tokens."))
        return
    zone = settings.zone
    for row in rows:
        moments = [
            (row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")),
            _("last used {time}").format(
                time=row.last_used_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            )
            if row.last_used_at
            else _("never used"),
            _("revoked {time}").format(
                time=row.revoked_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            )
            if row.revoked_at
            else _("active"),
        ]
        click.echo("  ".join([row.name, row.role, *moments]))


@tokens.command("revoke")
@click.argument("name")
@_async
async def tokens_revoke(name: str) -> None:
    """The token NAME no longer opens the API; what it did stays on record."""
    settings = _settings()
    _ = Translator(settings.DEFAULT_LOCALE).gettext
    name = name.strip()
    now = _clock().now()
    async with open_core(settings) as core:
        if not await revoke_api_token(core.engine, name, now):
            _fail(_("No API token is named {name}.").format(name=name), 1)
            return
        await record_cli_access(core.engine, "token_revoke", name)
    click.echo(_("Token {name} revoked.").format(name=name))
