"""The `complaintbot` command as an operator uses it: real processes, real databases."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from storage.migrate import head_revision

CONSOLE_INTAKE = "\n".join(
    [
        "我被多扣了30元话费，不知道为什么",
        "1",  # 继续
        "<b>张三</b> & Co",
        "12345",
        "13812345678 zs@example.com",
        "1",  # the suggested category (申诉)
        "中国移动北京分公司",
        "1",  # 跳过
        "退款并解释原因",
        "1",  # 确认提交
        "",
    ]
)


def complaintbot(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "complaintbot", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


# Two whole intakes typed within seconds by one person are over the flood limit's
# first burst (20 messages): this test is about filing, not about that limit.
UNLIMITED = {"INBOUND_MESSAGES_PER_MINUTE": "0"}


def test_console_chat_on_the_default_sqlite_files_a_complaint(tmp_path: Path) -> None:
    run = complaintbot(["run"], tmp_path, UNLIMITED, stdin=CONSOLE_INTAKE)
    assert run.returncode == 0, run.stderr
    assert "“12345”不是有效的电话号码或邮箱地址" in run.stdout
    assert "看起来像是“申诉”" in run.stdout
    assert "姓名：<b>张三</b> & Co" in run.stdout
    receipt = re.search(r"受理编号：(TS-\d{8}-0001)", run.stdout)
    assert receipt, run.stdout
    assert (tmp_path / "complaintbot.db").exists()

    # The same person again: a free message would be a follow-up to the case, /new
    # starts another complaint.
    again = complaintbot(["run"], tmp_path, UNLIMITED, stdin="/new\n" + CONSOLE_INTAKE)
    assert again.returncode == 0, again.stderr
    second = re.search(r"受理编号：(TS-\d{8}-0002)", again.stdout)
    assert second, again.stdout + again.stderr

    listed = complaintbot(["cases", "list", "--json"], tmp_path)
    assert sorted(c["case_no"] for c in json.loads(listed.stdout)) == [
        receipt.group(1),
        second.group(1),
    ]


async def test_cases_show_json_has_every_field(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "TIMEZONE": "Asia/Shanghai"}
    run = complaintbot(["run"], tmp_path, env, stdin=CONSOLE_INTAKE)
    case_no = re.search(r"受理编号：(TS-\d{8}-\d{4})", run.stdout).group(1)  # type: ignore[union-attr]

    shown = complaintbot(["cases", "show", case_no, "--json"], tmp_path, env)
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert {
        "case_no",
        "status",
        "channel",
        "category",
        "complainant",
        "subject",
        "description",
        "expectation",
        "evidence",
        "received_at",
        "receipt_sent_at",
        "first_response_at",
        "response_due_at",
        "resolved_at",
        "satisfaction",
        "timeline",
    } <= case.keys()
    assert case["case_no"] == case_no
    assert (case["status"], case["channel"], case["category"]) == (
        "acknowledged",
        "console",
        "appeal",
    )
    assert case["complainant"] == {
        "name": "<b>张三</b> & Co",
        "phone": "+8613812345678",
        "email": "zs@example.com",
    }
    assert case["subject"] == "中国移动北京分公司"
    assert case["description"] == "我被多扣了30元话费，不知道为什么"
    assert case["expectation"] == "退款并解释原因"
    assert case["evidence"] == []
    assert case["received_at"].endswith("+08:00")
    assert case["receipt_sent_at"] is not None and case["receipt_sent_at"].endswith("+08:00")
    assert case["first_response_at"] is None and case["resolved_at"] is None
    assert case["satisfaction"] is None
    assert [e["event"] for e in case["timeline"]] == [
        "received",
        "privacy_notice",
        "case_created",
        "receipt_sent",
    ]
    assert all({"at", "actor", "event"} <= e.keys() for e in case["timeline"])

    readable = complaintbot(["cases", "show", case_no], tmp_path, env)
    assert f"受理编号: {case_no}" in readable.stdout
    missing = complaintbot(["cases", "show", "TS-20990101-0001"], tmp_path, env)
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "没有编号为 TS-20990101-0001 的投诉。",
    )


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TIMEZONE", "Mars/Olympus", "Setting TIMEZONE is wrong: unknown time zone 'Mars/Olympus'"),
        ("DATABASE_URL", "mysql://x", "Setting DATABASE_URL is wrong"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "Setting TELEGRAM_BOT_TOKEN is wrong"),
        ("TELEGRAM_AGENT_CHAT_ID", "abc", "Setting TELEGRAM_AGENT_CHAT_ID is wrong"),
        ("CASE_PREFIX", "ts-", "Setting CASE_PREFIX is wrong"),
        ("DEFAULT_LOCALE", "fr", "Setting DEFAULT_LOCALE is wrong"),
        ("LOG_LEVEL", "LOUD", "Setting LOG_LEVEL is wrong"),
        ("TELEGRAM_BASE_URL", "ftp://x", "Setting TELEGRAM_BASE_URL is wrong"),
        (
            "TELEGRAM_AGENT_IDS",
            "123, @li",
            "Setting TELEGRAM_AGENT_IDS is wrong: must be Telegram user ids separated by commas",
        ),
        ("TELEGRAM_SUPERVISOR_IDS", "x", "Setting TELEGRAM_SUPERVISOR_IDS is wrong"),
        ("AGENT_DISPLAY_NAME", "nick", "Setting AGENT_DISPLAY_NAME is wrong"),
        ("CALENDAR", "lunar", "Setting CALENDAR is wrong: must be cn-workdays"),
        ("WORKING_HOURS", "9-18", "Setting WORKING_HOURS is wrong: '9-18' is not a span"),
        ("LUNCH_BREAK", "13:00-12:00", "Setting LUNCH_BREAK is wrong"),
        ("SLA_POLICY_FILE", "missing.toml", "Setting SLA_POLICY_FILE is wrong: no such file"),
        ("SWEEP_INTERVAL_SECONDS", "0", "Setting SWEEP_INTERVAL_SECONDS is wrong"),
        ("SATISFIED_THRESHOLD", "6", "Setting SATISFIED_THRESHOLD is wrong"),
        ("AUTO_ARCHIVE_SECONDS", "60", "Settings are wrong: AUTO_ARCHIVE_SECONDS must be longer"),
        ("INBOUND_MESSAGES_PER_MINUTE", "-5", "Setting INBOUND_MESSAGES_PER_MINUTE is wrong"),
        ("INBOUND_BURST", "many", "Setting INBOUND_BURST is wrong: must be a whole number"),
    ],
)
def test_a_wrong_setting_stops_start_up_with_one_line(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    run = complaintbot(["run"], tmp_path, {variable: value})
    assert run.returncode == 2
    assert run.stderr.startswith(named), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr


def test_a_broken_sla_policy_stops_start_up_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "sla.toml").write_text(
        '[default]\nresolution = "1wd"\n\n[appeal]\nresolution = "soon"\n'
    )
    run = complaintbot(["run"], tmp_path, {"SLA_POLICY_FILE": "sla.toml"})
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "sla.toml, line 5: [appeal] resolution: 'soon' is not a duration "
        "(examples: 30s, 2h, 3d, 4wh, 1wd)"
    )


def test_settings_come_from_dot_env_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CASE_PREFIX=QA\n")
    run = complaintbot(["run"], tmp_path, stdin=CONSOLE_INTAKE)
    assert "受理编号：QA-" in run.stdout, run.stdout + run.stderr


async def test_postgres_schema_must_be_upgraded_explicitly(postgres, tmp_path: Path) -> None:
    await postgres.create_database("cli_upgrade")
    env = {"DATABASE_URL": postgres.url("cli_upgrade")}
    refused = complaintbot(["run"], tmp_path, env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "The database schema is out of date; run `complaintbot db upgrade` first."
    )
    upgraded = complaintbot(["db", "upgrade"], tmp_path, env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"schema at revision {head_revision()}" in upgraded.stdout
    listed = complaintbot(["cases", "list"], tmp_path, env)
    assert (listed.returncode, listed.stdout.strip()) == (0, "没有投诉记录。")


async def test_operators_work_a_case_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url}
    run = complaintbot(["run"], tmp_path, env, stdin=CONSOLE_INTAKE)
    case_no = re.search(r"受理编号：(TS-\d{8}-\d{4})", run.stdout).group(1)  # type: ignore[union-attr]

    replied = complaintbot(
        ["cases", "reply", case_no, "我们正在核查账单", "--agent", "李雷"], tmp_path, env
    )
    assert (replied.returncode, replied.stdout.strip()) == (0, "已发送给投诉人。"), replied.stderr
    noted = complaintbot(
        ["cases", "note", case_no, "计费系统工单 R-77", "--agent", "李雷"], tmp_path, env
    )
    assert noted.returncode == 0, noted.stderr
    assigned = complaintbot(
        ["cases", "assign", case_no, "韩梅梅", "--agent", "李雷"], tmp_path, env
    )
    assert assigned.returncode == 1 and assigned.stderr.strip()  # 韩梅梅 has never worked here
    resolve = ["cases", "resolve", case_no, "已退还多扣的30元", "--agent", "李雷"]
    facts = ["--facts", "confirmed", "--nature", "system_fault", "--responsibility", "company"]
    incomplete = complaintbot([*resolve, *facts], tmp_path, env)
    assert incomplete.returncode == 2 and "--severity" in incomplete.stderr
    resolved = complaintbot([*resolve, *facts, "--severity", "minor"], tmp_path, env)
    assert resolved.returncode == 0, resolved.stderr
    twice = complaintbot([*resolve, *facts, "--severity", "minor"], tmp_path, env)
    assert twice.returncode == 1 and case_no in twice.stderr

    case = json.loads(complaintbot(["cases", "show", case_no, "--json"], tmp_path, env).stdout)
    assert (case["status"], case["handler"], case["resolution"]) == (
        "resolved",
        "李雷",
        "已退还多扣的30元",
    )
    assert case["verification"] == {
        "facts": "confirmed",
        "nature": "system_fault",
        "responsibility": "company",
        "severity": "minor",
    }
    assert case["resolved_at"].endswith("+08:00")
    steps = [(e["event"], e["actor"]) for e in case["timeline"]]
    agent = next(actor for event, actor in steps if event == "agent_message")
    assert agent.startswith("agent:")
    for event in ("agent_message", "note", "resolved"):
        assert (event, agent) in steps
    assert next(e for e in case["timeline"] if e["event"] == "note")["text"] == "计费系统工单 R-77"

    # The reply and the resolution wait in the outbox for the console chat's next run.
    later = complaintbot(["run"], tmp_path, env, stdin="")
    assert "我们正在核查账单" in later.stdout and "已退还多扣的30元" in later.stdout
    assert "R-77" not in later.stdout
