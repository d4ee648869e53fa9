"""Expected failures of the commands come out as one sentence and a non-zero exit, never
a traceback: paths that do not exist, a database that cannot be opened or fails in the
middle of an export, an empty reply."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

import reporting.frames
from complaintbot.cli import main
from tests.complaintbot.test_cli import CONSOLE_INTAKE, complaintbot


def one_sentence(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def filed(tmp_path: Path) -> str:
    """A case filed on the console, on the default SQLite file in `tmp_path`."""
    run = complaintbot(["run"], tmp_path, stdin=CONSOLE_INTAKE)
    assert run.returncode == 0, run.stderr
    return re.search(r"受理编号：(TS-\d{8}-\d{4})", run.stdout).group(1)  # type: ignore[union-attr]


def test_privacy_export_into_a_directory_that_does_not_exist(filed: str, tmp_path: Path) -> None:
    args = ["privacy", "export", "--contact", "13812345678", "-o", "/nonexistent/dir/p.json"]
    run = complaintbot(args, tmp_path)
    assert run.returncode == 1
    said = "无法写入 /nonexistent/dir/p.json：目录 /nonexistent/dir 不存在。"
    assert one_sentence(run.stderr) == said
    english = complaintbot(args, tmp_path, {"DEFAULT_LOCALE": "en"})
    assert one_sentence(english.stderr) == (
        "Cannot write /nonexistent/dir/p.json: the directory /nonexistent/dir does not exist."
    )
    # Nothing was exported, so nothing is recorded on the case's timeline.
    shown = complaintbot(["cases", "show", filed], tmp_path)
    assert "personal_data_exported" not in shown.stdout


@pytest.mark.parametrize("command", [["cases", "list"], ["run"], ["db", "upgrade"]])
def test_a_database_whose_directory_does_not_exist(command: list[str], tmp_path: Path) -> None:
    env = {"DATABASE_URL": "sqlite+aiosqlite:////nonexistent/dir/complaintbot.db"}
    run = complaintbot(command, tmp_path, env)
    assert run.returncode == 2
    assert one_sentence(run.stderr) == "DATABASE_URL 中数据库文件所在的目录不存在：/nonexistent/dir"
    english = complaintbot(command, tmp_path, {**env, "DEFAULT_LOCALE": "en"})
    assert one_sentence(english.stderr) == (
        "The directory of the database file in DATABASE_URL does not exist: /nonexistent/dir"
    )


def test_an_empty_reply_is_refused(filed: str, tmp_path: Path) -> None:
    for text in ("", "   "):
        run = complaintbot(["cases", "reply", filed, text, "--agent", "x"], tmp_path)
        assert run.returncode == 2
        assert one_sentence(run.stderr) == "未发送任何内容：回复的 TEXT 为空。"
    english = complaintbot(
        ["cases", "reply", filed, "", "--agent", "x"], tmp_path, {"DEFAULT_LOCALE": "en"}
    )
    assert one_sentence(english.stderr) == "Nothing was sent: the reply's TEXT is empty."
    shown = complaintbot(["cases", "show", filed], tmp_path)
    assert "agent_message" not in shown.stdout


def test_a_database_error_in_the_middle_of_the_ledger_export(
    filed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reading = reporting.frames.ledger_frames

    async def failing(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async for frame in reading(*args, **kwargs):
            yield frame
        raise OperationalError("SELECT …", {}, Exception("disk I/O error"))

    monkeypatch.setattr(reporting.frames, "ledger_frames", failing)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["ledger", "export", "--format", "csv", "-o", "l.csv"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert one_sentence(result.stderr) == "导出中断（disk I/O error），l.csv 不完整。"
