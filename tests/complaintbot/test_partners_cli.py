"""The partner directory from the command line: add, list, disable, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.complaintbot.test_cli import CONSOLE_INTAKE, UNLIMITED, complaintbot


async def test_partners_are_added_listed_and_disabled(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url}
    added = complaintbot(
        [
            "partners",
            "add",
            "PayChannel",
            "--name",
            "支付渠道 PayCo",
            "--email",
            "Disputes@PayCo.example",
            "--sla",
            "2wd",
        ],
        tmp_path,
        env,
    )
    assert added.returncode == 0, added.stderr
    assert (
        added.stdout.strip() == "已添加合作方 paychannel：支付渠道 PayCo <Disputes@payco.example>。"
    )
    isp = complaintbot(
        ["partners", "add", "isp", "--name", "Access ISP", "--email", "noc@isp.example"],
        tmp_path,
        env,
    )
    assert isp.returncode == 0, isp.stderr

    listed = complaintbot(["partners", "list"], tmp_path, env)
    assert listed.stdout.splitlines() == [
        "isp  Access ISP  noc@isp.example  -  启用",
        "paychannel  支付渠道 PayCo  Disputes@payco.example  2wd  启用",
    ]
    disabled = complaintbot(["partners", "disable", "isp"], tmp_path, env)
    assert (disabled.returncode, disabled.stdout.strip()) == (0, "已停用合作方 isp。")
    listed = complaintbot(["partners", "list"], tmp_path, env)
    assert "isp  Access ISP  noc@isp.example  -  已停用" in listed.stdout.splitlines()


async def test_bad_partner_input_gets_one_sentence(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    base = ["partners", "add", "isp", "--name", "Access ISP"]
    assert complaintbot([*base, "--email", "noc@isp.example"], tmp_path, env).returncode == 0

    twice = complaintbot([*base, "--email", "other@isp.example"], tmp_path, env)
    bad_mail = complaintbot(
        ["partners", "add", "pay", "--name", "Pay", "--email", "disputes@"], tmp_path, env
    )
    bad_sla = complaintbot(
        ["partners", "add", "pay", "--name", "Pay", "--email", "d@pay.example", "--sla", "soon"],
        tmp_path,
        env,
    )
    unknown = complaintbot(["partners", "disable", "nobody"], tmp_path, env)
    answers = [(r.returncode, r.stderr.strip()) for r in (twice, bad_mail, bad_sla, unknown)]
    assert answers == [
        (1, "A partner with the key isp already exists."),
        (2, "“disputes@” is not a valid email address."),
        (2, "“soon” is not a duration: write it like 8h, 2d or 3wd (working days)."),
        (1, "No partner has the key nobody."),
    ]
    listed = complaintbot(["partners", "list"], tmp_path, env)
    assert listed.stdout.splitlines() == ["isp  Access ISP  noc@isp.example  -  active"]


MAIL = {
    "IMAP_HOST": "127.0.0.1",
    "IMAP_USERNAME": "desk",
    "IMAP_PASSWORD": "secret",
    "SMTP_HOST": "127.0.0.1",
    "MAIL_FROM": "desk@corp.example",
}


async def test_an_operator_refers_a_case_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, **UNLIMITED}
    run = complaintbot(["run"], tmp_path, env, stdin=CONSOLE_INTAKE)
    case_no = re.search(r"受理编号：(TS-\d{8}-\d{4})", run.stdout).group(1)  # type: ignore[union-attr]
    add = ["partners", "add", "pay", "--name", "PayCo", "--email", "refunds@payco.example"]
    assert complaintbot(add, tmp_path, env).returncode == 0
    refer = ["cases", "refer", case_no, "pay", "订单 8812 是否重复扣款？", "--agent", "李雷"]

    no_mail = complaintbot(refer, tmp_path, env)
    assert (no_mail.returncode, no_mail.stderr.strip()) == (
        1,
        "合作方通过邮件联系，但邮件渠道未配置（IMAP_HOST）。",
    )
    env |= MAIL
    unknown = complaintbot([*refer[:3], "bank", *refer[4:]], tmp_path, env)
    bad_within = complaintbot([*refer, "--within", "soon"], tmp_path, env)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "没有合作方“bank”；可用 complaintbot partners list 查看。",
    )
    assert (bad_within.returncode, bad_within.stderr.strip()) == (
        2,
        "--within “soon” 不是时长；请写成 4h、3d、4wh 或 2wd 的形式。",
    )

    referred = complaintbot([*refer, "--within", "2wd"], tmp_path, env)
    assert referred.returncode == 0, referred.stderr
    assert f"已将 {case_no} 转交 PayCo 协查；答复期限" in referred.stdout
    case = json.loads(complaintbot(["cases", "show", case_no, "--json"], tmp_path, env).stdout)
    (event,) = [e for e in case["timeline"] if e["event"] == "referred"]
    assert (event["partner"], event["within"], event["text"]) == (
        "pay",
        "2wd",
        "订单 8812 是否重复扣款？",
    )
    assert case["status"] == "acknowledged"  # the case keeps its status
    (referral,) = case["referrals"]
    assert (referral["partner"], referral["answered_at"], referral["outcome"]) == (
        "pay",
        None,
        "pending",
    )
    shown = complaintbot(["cases", "show", case_no], tmp_path, env).stdout
    assert "转交合作方协查:" in shown
    assert re.search(r"  pay：\S+ \S+ 发出，\S+ \S+ 到期，- 答复：未到期", shown), shown
