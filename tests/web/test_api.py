"""The API at /api/v1/ on the real `complaintbot serve`, with tokens made by the CLI:
tokens and roles, a case read as `cases show --json` reads it, the desk's actions, a
case entered from a regulator with an earlier received time, and an email
complainant's receipt by mail."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.domain import Category
from complaintbot.app import followup_config
from complaintbot.settings import Settings
from scheduler.sla import deadlines
from tests.channels.test_email_end_to_end import _mail_settings
from tests.complaintbot.test_cli import complaintbot
from tests.support.dovecot import Dovecot
from tests.support.serving import serving
from tests.support.smtp_server import SmtpServer
from tests.support.staff_web import StaffClient, add_staff
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import telegram_settings
from tests.support.waiting import eventually
from web.api import ENDPOINTS, OPENAPI_PATH
from web.api.openapi import describe

API = "/api/v1"


def _cli(args: list[str], tmp_path: Path, database_url: str) -> tuple[int, str, str]:
    done = complaintbot(args, tmp_path, {"DATABASE_URL": database_url})
    return done.returncode, done.stdout, done.stderr


def _token(tmp_path: Path, database_url: str, name: str, role: str) -> str:
    code, out, err = _cli(
        ["tokens", "create", "--name", name, "--role", role], tmp_path, database_url
    )
    assert code == 0, err
    assert "Authorization: Bearer" in err
    return out.strip()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _settings(api: FakeBotApi, database_url: str, tmp_path: Path, **more: Any) -> Settings:
    return telegram_settings(api, database_url, tmp_path / "data", PORT=0, **more)


def _working_days_ago(settings: Settings, count: int) -> datetime:
    """10:00 local on the working day `count` working days before today."""
    calendar = followup_config(settings).calendar
    day = datetime.now(settings.zone).date()
    while count:
        day -= timedelta(days=1)
        moment = datetime.combine(day, time(10, 0), settings.zone)
        count -= calendar.is_working(moment)
    return datetime.combine(day, time(10, 0), settings.zone)


def _regulator_case(received_at: datetime, **more: Any) -> dict[str, Any]:
    return {
        "source": "regulator",
        "external_ref": "MIIT-2026-118803",
        "category": "appeal",
        "complainant": {"name": "王芳", "phone": "13800138000", "email": None},
        "subject": "Charged twice for November",
        "description": "The November bill charged the data pack twice.",
        "expectation": "A refund of the second charge.",
        "received_at": received_at.isoformat(),
        **more,
    }


async def test_tokens_open_the_api_for_their_role_until_revoked(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    agent = _token(tmp_path, database_url, "crm", "agent")
    auditor = _token(tmp_path, database_url, "audit-desk", "auditor")
    assert agent != auditor and len(agent) >= 40

    code, _out, err = _cli(
        ["tokens", "create", "--name", "crm", "--role", "supervisor"], tmp_path, database_url
    )
    assert (code, err.strip()) == (1, "名为 crm 的令牌已存在。")
    code, out, _err = _cli(["tokens", "list"], tmp_path, database_url)
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["audit-desk", "auditor"],
        ["crm", "agent"],
    ]
    assert agent not in out and auditor not in out and "从未使用" in out

    settings = _settings(api, database_url, tmp_path)
    async with serving(settings) as client:
        missing = await client.get(f"{API}/cases")
        wrong = await client.get(f"{API}/cases", headers=_bearer("not-a-token"))
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert missing.json() == {"error": "A valid bearer token is needed."}
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")

        listed = await client.get(f"{API}/cases", headers=_bearer(auditor))
        assert listed.status_code == 200
        assert listed.json() == {"cases": [], "total": 0, "page": 1, "per_page": 50}
        received = datetime.now(settings.zone) - timedelta(hours=1)
        refused = await client.post(
            f"{API}/cases", headers=_bearer(auditor), json=_regulator_case(received)
        )
        assert refused.status_code == 403
        assert refused.json() == {"error": "The role auditor may not do this."}

        created = await client.post(
            f"{API}/cases", headers=_bearer(agent), json=_regulator_case(received)
        )
        assert created.status_code == 201, created.text
        case_no = created.json()["case_no"]
        note = await client.post(
            f"{API}/cases/{case_no}/note", headers=_bearer(auditor), json={"text": "x"}
        )
        assert note.status_code == 403

        code, _out, err = _cli(["tokens", "revoke", "crm"], tmp_path, database_url)
        assert code == 0, err
        revoked = await client.get(f"{API}/cases/{case_no}", headers=_bearer(agent))
        assert revoked.status_code == 401
        still = await client.get(f"{API}/cases/{case_no}", headers=_bearer(auditor))
        assert still.status_code == 200

    code, _out, err = _cli(["tokens", "revoke", "nobody"], tmp_path, database_url)
    assert (code, err.strip()) == (1, "没有名为 nobody 的 API 令牌。")
    code, out, _err = _cli(["tokens", "list"], tmp_path, database_url)
    crm = next(line for line in out.splitlines() if line.startswith("crm"))
    assert "吊销于" in crm and "最近使用" in crm

    # Every call is in the access log, and so are the tokens' creation and revocation.
    code, out, err = _cli(["audit", "access", "--format", "json"], tmp_path, database_url)
    assert code == 0, err
    entries = json.loads(out)
    by_action = [(e["action"], e["via"]) for e in entries]
    assert by_action.count(("token_create", "cli")) == 2
    assert ("token_revoke", "cli") in by_action
    assert all(e["actor"].startswith("os:") for e in entries if e["via"] == "cli")
    calls = [
        (e["actor"], e["detail"]["method"], e["detail"]["status"])
        for e in entries
        if e["action"] == "api_call"
    ]
    assert calls == [
        ("anonymous", "GET", 401),
        ("anonymous", "GET", 401),
        ("audit-desk", "GET", 200),
        ("audit-desk", "POST", 403),
        ("crm", "POST", 201),
        ("audit-desk", "POST", 403),
        ("anonymous", "GET", 401),
        ("audit-desk", "GET", 200),
    ]
    views = [(e["actor"], e["target"]) for e in entries if e["action"] == "case_view"]
    assert views == [("audit-desk", case_no)]
    assert agent not in out and auditor not in out


async def test_a_regulators_case_counts_its_deadlines_from_the_original_time(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    agent = _token(tmp_path, database_url, "regulator-feed", "supervisor")
    settings = _settings(api, database_url, tmp_path)
    received = _working_days_ago(settings, 3)
    async with serving(settings) as client:
        created = await client.post(
            f"{API}/cases", headers=_bearer(agent), json=_regulator_case(received)
        )
        assert created.status_code == 201, created.text
        body = created.json()
        case_no, case = body["case_no"], body["case"]
        # Staff see where it came from on its page.
        await add_staff(database_url, "wang", "supervisor")
        async with StaffClient(client) as browser:
            await browser.login("wang")
            page = (await browser.get(f"/staff/cases/{case_no}")).text
        assert "监管部门转办 · MIIT-2026-118803" in page and "工作人员录入" in page

        # The API's case is `cases show --json`'s, field for field: read while the
        # server runs, whose sweep may be escalating the overdue case meanwhile, so
        # compared until both reads fall between two of its changes.
        async def read_alike() -> dict[str, Any] | None:
            shown = (await client.get(f"{API}/cases/{case_no}", headers=_bearer(agent))).json()
            code, out, err = await asyncio.to_thread(
                _cli, ["cases", "show", "--json", case_no], tmp_path, database_url
            )
            assert code == 0, err
            return shown if shown == json.loads(out) else None

        await eventually(read_alike, 60)

    today = datetime.now(settings.zone).strftime("%Y%m%d")
    assert re.fullmatch(rf"TS-{today}-\d{{4}}", case_no)
    # A phone is no channel we write on: no receipt, and the timeline says why.
    assert body["receipt_sent"] is False
    assert (case["source"], case["external_ref"]) == ("regulator", "MIIT-2026-118803")
    assert datetime.fromisoformat(case["received_at"]) == received
    assert case["complainant"] == {"name": "王芳", "phone": "+8613800138000", "email": None}
    expected = deadlines(
        followup_config(settings).policy[Category.APPEAL],
        followup_config(settings).calendar,
        received,
    )
    assert {d["name"]: datetime.fromisoformat(d["due_at"]) for d in case["deadlines"]} == {
        "receipt": expected.receipt,
        "first_response": expected.first_response,
        "resolution": expected.resolution,
    }
    events = {e["event"]: e for e in case["timeline"]}
    assert events["received"]["source"] == "regulator"
    assert events["received"]["entered_by"] == "regulator-feed"
    assert datetime.fromisoformat(events["received"]["at"]) == received
    assert events["receipt_not_sent"]["reason"] == "no_channel"

    code, out, err = _cli(["cases", "show", case_no], tmp_path, database_url)
    assert code == 0, err
    assert "MIIT-2026-118803" in out and "regulator" in out


async def test_the_desk_acts_through_the_api_and_bad_input_is_named(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    agent = _token(tmp_path, database_url, "crm", "agent")
    settings = _settings(api, database_url, tmp_path)
    async with serving(settings) as client:
        headers = _bearer(agent)
        received = datetime.now(settings.zone) - timedelta(minutes=30)
        case_no = (
            await client.post(f"{API}/cases", headers=headers, json=_regulator_case(received))
        ).json()["case_no"]

        note = await client.post(
            f"{API}/cases/{case_no}/note",
            headers=headers,
            json={"text": "Called the billing team."},
        )
        assert note.status_code == 200, note.text
        assert note.json()["done"] is True
        notes = [e for e in note.json()["case"]["timeline"] if e["event"] == "note"]
        assert [n.get("text") for n in notes] == ["Called the billing team."]

        resolved = await client.post(
            f"{API}/cases/{case_no}/resolve",
            headers=headers,
            json={
                "text": "The second charge is refunded.",
                "facts": "confirmed",
                "nature": "system_fault",
                "responsibility": "company",
                "severity": "minor",
            },
        )
        assert resolved.status_code == 200, resolved.text
        case = resolved.json()["case"]
        assert case["status"] == "resolved"
        assert case["verification"] == {
            "facts": "confirmed",
            "nature": "system_fault",
            "responsibility": "company",
            "severity": "minor",
        }
        assert case["resolution"] == "The second charge is refunded."

        unknown = await client.get(f"{API}/cases/TS-20260101-9999", headers=headers)
        assert (unknown.status_code, unknown.json()) == (
            404,
            {"error": "No case TS-20260101-9999."},
        )
        garbled = await client.post(f"{API}/cases", headers=headers, content=b"{not json")
        assert garbled.status_code == 400 and "not JSON" in garbled.json()["error"]
        category = await client.post(
            f"{API}/cases", headers=headers, json=_regulator_case(received, category="billing")
        )
        assert category.status_code == 400
        assert category.json()["field"] == "category"
        assert category.json()["valid"] == [c.value for c in Category]
        future = await client.post(
            f"{API}/cases",
            headers=headers,
            json=_regulator_case(datetime.now(settings.zone) + timedelta(hours=2)),
        )
        assert future.status_code == 400
        assert future.json() == {"error": "received_at is in the future.", "field": "received_at"}
        no_name = _regulator_case(received)
        no_name["complainant"] = {"phone": "13800138000"}
        nameless = await client.post(f"{API}/cases", headers=headers, json=no_name)
        assert nameless.json()["field"] == "complainant.name"
        listed = (await client.get(f"{API}/cases?status=resolved", headers=headers)).json()
        assert [c["case_no"] for c in listed["cases"]] == [case_no]
        assert listed["cases"][0]["handler"] == "crm"
        found = (await client.get(f"{API}/cases?q=November", headers=headers)).json()
        assert [c["case_no"] for c in found["cases"]] == [case_no]
        missed = (await client.get(f"{API}/cases?q=broadband", headers=headers)).json()
        assert missed["total"] == 0
        bad_page = await client.get(f"{API}/cases?per_page=500", headers=headers)
        assert (bad_page.status_code, bad_page.json()["field"]) == (400, "per_page")


async def test_every_route_is_described_in_the_openapi_document(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    settings = _settings(api, database_url, tmp_path)
    async with serving(settings) as client:
        served = (await client.get(f"{API}/openapi.json")).json()
    assert served == describe()
    assert served["openapi"].startswith("3.1")
    assert served["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    described = {
        (path, method.upper()) for path, item in served["paths"].items() for method in item
    }
    routes = {(path, method) for path, method, _handler, _roles in ENDPOINTS}
    assert described == routes | {(OPENAPI_PATH, "GET")}
    for path, method, _handler, _roles in ENDPOINTS:
        operation = served["paths"][path][method.lower()]
        assert operation["summary"]
        assert {"200", "201"} & set(operation["responses"])
        assert "401" in operation["responses"]


async def test_an_email_complainant_gets_the_receipt_by_mail(
    api: FakeBotApi, dovecot: Dovecot, smtp_server: SmtpServer, database_url: str, tmp_path: Path
) -> None:
    agent = _token(tmp_path, database_url, "crm", "agent")
    settings = _settings(api, database_url, tmp_path, **_mail_settings(dovecot, smtp_server))
    received = _working_days_ago(settings, 1)
    entered = _regulator_case(
        received,
        source="letter",
        external_ref=None,
        complainant={"name": "Zhang Wei", "phone": None, "email": "Zhang.Wei@Example.CN"},
    )
    async with serving(settings) as client:
        created = await client.post(f"{API}/cases", headers=_bearer(agent), json=entered)
        assert created.status_code == 201, created.text
        case_no = created.json()["case_no"]
        assert created.json()["receipt_sent"] is True

        async def mailed() -> list[Any]:
            return smtp_server.to("Zhang.Wei@example.cn")

        receipt = (await eventually(mailed, within=30))[0].message

        # The mail arrives a moment before its sender records it as sent.
        async def sent() -> dict[str, Any]:
            found = await client.get(f"{API}/cases/{case_no}", headers=_bearer(agent))
            case: dict[str, Any] = found.json()
            return case if case["receipt_sent_at"] else {}

        case = await eventually(sent, within=30)

        # The case lives on the mail channel: a reply through the API is mailed too.
        answered = await client.post(
            f"{API}/cases/{case_no}/reply",
            headers=_bearer(agent),
            json={"text": "We have refunded the second charge."},
        )
        assert answered.status_code == 200 and answered.json()["done"] is True

        async def replied() -> list[Any]:
            found = smtp_server.to("Zhang.Wei@example.cn")
            return found if len(found) >= 2 else []

        reply = (await eventually(replied, within=30))[1].message
        blank = await client.post(
            f"{API}/cases/{case_no}/note", headers=_bearer(agent), json={"text": "  "}
        )
    assert case_no in str(receipt["Subject"])
    body = receipt.get_body(preferencelist=("plain",)).get_content()
    assert f"{case_no}" in body
    assert (case["channel"], case["source"], case["external_ref"]) == ("email", "letter", None)
    assert (
        "We have refunded the second charge."
        in reply.get_body(preferencelist=("plain",)).get_content()
    )
    assert case_no in str(reply["Subject"])
    assert (blank.status_code, blank.json()) == (400, {"error": "text is empty.", "field": "text"})
