"""`complaintbot audit verify` as an operator runs it, after someone edits a row with SQL."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from storage.database import create_engine
from tests.complaintbot.test_cli import CONSOLE_INTAKE, complaintbot


async def test_audit_verify_names_the_row_edited_with_sql(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    run = complaintbot(["run"], tmp_path, {"DATABASE_URL": database_url}, stdin=CONSOLE_INTAKE)
    case_no = re.search(r"受理编号：(TS-\d{8}-\d{4})", run.stdout).group(1)  # type: ignore[union-attr]

    intact = complaintbot(["audit", "verify"], tmp_path, env)
    assert (intact.returncode, intact.stdout.strip()) == (
        0,
        "Timeline intact: 4 events in 1 case.\nAccess log intact: 0 entries.",
    ), intact.stderr
    one = complaintbot(["audit", "verify", "--case", case_no.lower()], tmp_path, env)
    assert one.returncode == 0, one.stderr

    engine = create_engine(database_url)
    async with engine.begin() as connection:
        event_id = await connection.scalar(
            text("SELECT id FROM timeline_events WHERE kind = 'case_created'")
        )
        await connection.execute(
            text("UPDATE timeline_events SET actor = 'agent:7' WHERE id = :id"), {"id": event_id}
        )
    await engine.dispose()

    broken = complaintbot(["audit", "verify"], tmp_path, env)
    assert broken.returncode == 1
    assert broken.stdout.strip() == (
        f"{case_no}: event {event_id} (position 3): its content does not match its hash "
        "(changed after it was written)\nAccess log intact: 0 entries."
    )
    assert broken.stderr.strip() == "Timeline broken in 1 of 1 case."
    assert "Traceback" not in broken.stderr

    chinese = complaintbot(
        ["audit", "verify", "--case", case_no], tmp_path, {**env, "DEFAULT_LOCALE": "zh_CN"}
    )
    assert chinese.returncode == 1
    assert chinese.stdout.startswith(f"{case_no}：记录 {event_id}（第 3 条）：内容与其哈希值不符")

    unknown = complaintbot(["audit", "verify", "--case", "TS-20990101-0001"], tmp_path, env)
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "No case TS-20990101-0001.")
