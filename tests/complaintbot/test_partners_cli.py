"""The partner directory from the command line: add, list, disable, and bad input."""

from __future__ import annotations

from pathlib import Path

from tests.complaintbot.test_cli import complaintbot


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
