"""`complaintbot audit access` as an auditor runs it, and the commands that record
themselves in the access log: `ledger export` (with --unmasked and its reason) and
`users add|disable|reset-password`, under the operating system user."""

from __future__ import annotations

import csv
import getpass
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from storage.access_log import AccessEntry, access_entries, record_access, verify_access_log
from storage.database import create_engine
from tests.complaintbot.test_cli import CONSOLE_INTAKE, complaintbot

ME = f"os:{getpass.getuser()}"


async def _seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        for at, action, target in (
            # 23:30 on 30 November in Shanghai, though 1 December is not yet begun in UTC.
            (datetime(2026, 11, 30, 15, 30, tzinfo=UTC), "login", None),
            (datetime(2026, 12, 1, 2, 0, tzinfo=UTC), "case_view", "TS-20261201-0001"),
            (datetime(2026, 12, 1, 16, 30, tzinfo=UTC), "login_failed", "=cmd|calc"),
        ):
            await record_access(
                engine,
                AccessEntry(
                    at=at,
                    actor="wang",
                    role="supervisor",
                    action=action,
                    target=target,
                    detail={"note": "中文"} if action == "case_view" else {},
                    address="10.0.0.7",
                ),
            )
    finally:
        await engine.dispose()


Recorded = tuple[str, str, str, str, str | None, dict[str, object]]


async def _entries(database_url: str) -> list[Recorded]:
    engine = create_engine(database_url)
    try:
        assert await verify_access_log(engine) == []
        return [
            (e.actor, e.role, e.via, e.action, e.target, e.detail)
            for e in await access_entries(engine)
        ]
    finally:
        await engine.dispose()


async def test_the_access_log_is_listed_as_csv_or_json_for_a_period(
    database_url: str, tmp_path: Path
) -> None:
    await _seed(database_url)
    env = {"DATABASE_URL": database_url, "TIMEZONE": "Asia/Shanghai", "DEFAULT_LOCALE": "en"}

    day = complaintbot(
        ["audit", "access", "--from", "2026-12-01", "--to", "2026-12-01"], tmp_path, env
    )
    assert day.returncode == 0, day.stderr
    rows = list(csv.DictReader(io.StringIO(day.stdout)))
    assert list(rows[0]) == [
        "seq", "at", "actor", "role", "via", "action", "target", "detail", "address", "hash"
    ]  # fmt: skip
    assert [(r["seq"], r["at"], r["action"], r["target"], r["detail"]) for r in rows] == [
        ("2", "2026-12-01T10:00:00+08:00", "case_view", "TS-20261201-0001", '{"note":"中文"}'),
    ]
    assert rows[0]["address"] == "10.0.0.7" and len(rows[0]["hash"]) == 64

    # From the 2nd on: the failed login at 00:30 local time, and this command's own
    # reading of the log (the one before too); a formula-like target is kept as text.
    everything = complaintbot(["audit", "access", "--format", "json"], tmp_path, env)
    assert everything.returncode == 0, everything.stderr
    listed = json.loads(everything.stdout)
    assert [(e["seq"], e["action"]) for e in listed] == [
        (1, "login"),
        (2, "case_view"),
        (3, "login_failed"),
        (4, "access_log_view"),
        (5, "access_log_view"),
    ]
    assert listed[2]["target"] == "=cmd|calc"
    assert listed[2]["at"] == "2026-12-02T00:30:00+08:00"
    assert {k: listed[3][k] for k in ("actor", "role", "via", "address", "detail")} == {
        "actor": ME,
        "role": "operator",
        "via": "cli",
        "address": None,
        "detail": {"from": "2026-12-01", "to": "2026-12-01", "format": "csv"},
    }
    later = complaintbot(["audit", "access", "--from", "2026-12-02"], tmp_path, env)
    rows = list(csv.DictReader(io.StringIO(later.stdout)))
    assert rows[0]["target"] == "'=cmd|calc"
    assert [r["seq"] for r in rows] == ["3", "4", "5", "6"]

    wrong = complaintbot(
        ["audit", "access", "--from", "2026-12-03", "--to", "2026-12-01"], tmp_path, env
    )
    assert wrong.returncode == 2
    assert "--from 2026-12-03 is after --to 2026-12-01" in wrong.stderr


async def test_an_unmasked_ledger_export_needs_a_reason_and_is_recorded(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    period = ["--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv"]
    out = tmp_path / "ledger.csv"

    refused = complaintbot(
        ["ledger", "export", *period, "-o", str(out), "--unmasked"], tmp_path, env
    )
    assert refused.returncode == 2
    assert "--unmasked needs --reason" in refused.stderr

    done = complaintbot(
        ["ledger", "export", *period, "-o", str(out), "--unmasked", "--reason", "court order 17"],
        tmp_path,
        env,
    )
    assert done.returncode == 0, done.stderr
    masked = complaintbot(["ledger", "export", *period, "-o", str(out)], tmp_path, env)
    assert masked.returncode == 0, masked.stderr

    assert await _entries(database_url) == [
        (
            ME,
            "operator",
            "cli",
            "ledger_export",
            "2026-11-01..2026-11-30",
            {"masked": False, "reason": "court order 17", "format": "csv", "file": str(out)},
        ),
        (
            ME,
            "operator",
            "cli",
            "ledger_export",
            "2026-11-01..2026-11-30",
            {"masked": True, "reason": None, "format": "csv", "file": str(out)},
        ),
    ]


async def test_staff_user_changes_are_recorded_without_the_password(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    secret = tmp_path / "password.txt"
    secret.write_text("correct horse battery\n", encoding="utf-8")
    for args in (
        ["users", "add", "li.lei", "--role", "auditor", "--team", "billing"],
        ["users", "reset-password", "li.lei"],
        ["users", "disable", "li.lei"],
        ["users", "disable", "nobody"],
    ):
        extra = ["--password-file", str(secret)] if args[1] != "disable" else []
        complaintbot([*args, *extra], tmp_path, env)

    entries = await _entries(database_url)
    assert [(e[3], e[4], e[5]) for e in entries] == [
        ("user_add", "li.lei", {"role": "auditor", "team": "billing"}),
        ("user_reset_password", "li.lei", {}),
        ("user_disable", "li.lei", {}),
    ]
    assert {e[:3] for e in entries} == {(ME, "operator", "cli")}
    assert "correct horse" not in json.dumps(entries)


async def test_looking_at_and_working_a_case_from_the_command_line_is_recorded(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    run = complaintbot(["run"], tmp_path, env, stdin=CONSOLE_INTAKE)
    found = re.search(r"TS-\d{8}-\d{4}", run.stdout)
    assert found, run.stdout
    case_no = found.group(0)
    assert complaintbot(["cases", "list"], tmp_path, env).returncode == 0
    assert complaintbot(["cases", "show", case_no], tmp_path, env).returncode == 0
    noted = complaintbot(
        ["cases", "note", case_no, "billing ticket R-77", "--agent", "Li"], tmp_path, env
    )
    assert noted.returncode == 0, noted.stderr

    assert [
        (a, role, via, action, target)
        for a, role, via, action, target, _d in await _entries(database_url)
    ] == [
        (ME, "operator", "cli", "case_list", None),
        (ME, "operator", "cli", "case_view", case_no),
        (ME, "operator", "cli", "case_action", case_no),
    ]
    *_rest, (*_who, detail) = await _entries(database_url)
    assert detail == {"command": "note", "done": True, "agent": "Li"}
