"""What the product writes to disk is closed to other users, whatever the umask: the
SQLite database and its -wal/-shm files 0600, the data and evidence directories 0700,
and every file a command writes with personal data 0600."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import create_engine
from storage.files import EvidenceFiles
from tests.complaintbot.test_cli import CONSOLE_INTAKE, complaintbot


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The common default: everything readable by every local user unless said otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_console_run_leaves_nothing_readable_by_other_users(tmp_path: Path) -> None:
    run = complaintbot(["run"], tmp_path, stdin=CONSOLE_INTAKE)
    assert run.returncode == 0, run.stderr
    assert "受理编号" in run.stdout
    assert mode(tmp_path / "complaintbot.db") == 0o600
    assert mode(tmp_path / "data") == 0o700
    assert mode(tmp_path / "data" / "evidence") == 0o700
    assert mode(tmp_path / "data" / "complaintbot.log") == 0o600


async def test_the_sqlite_database_and_its_wal_and_shm_are_0600(tmp_path: Path) -> None:
    database = tmp_path / "complaintbot.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as connection:
            # While a connection is open, SQLite keeps its write-ahead log and shared memory.
            await connection.execute(text("SELECT x FROM t"))
            for name in ("complaintbot.db", "complaintbot.db-wal", "complaintbot.db-shm"):
                assert mode(tmp_path / name) == 0o600, name
    finally:
        await engine.dispose()


async def test_an_existing_database_readable_by_others_is_closed_on_start(tmp_path: Path) -> None:
    database = tmp_path / "complaintbot.db"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "complaintbot.log").write_text("an earlier run\n", encoding="utf-8")
    os.chmod(data / "complaintbot.log", 0o644)
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{database}", "DATA_DIR": str(data)}
    run = complaintbot(["run"], tmp_path, env, stdin="")
    assert run.returncode == 0, run.stderr
    assert mode(database) == 0o600
    assert mode(data) == 0o700
    assert mode(data / "complaintbot.log") == 0o600


def test_evidence_files_and_their_directories(tmp_path: Path) -> None:
    files = EvidenceFiles(tmp_path / "data")
    digest, relative = files.put(b"\x89PNG the bill")
    assert mode(tmp_path / "data" / relative) == 0o600
    data = tmp_path / "data"
    for directory in (data, data / "evidence", (data / relative).parent):
        assert mode(directory) == 0o700, directory
    assert files.read(digest) == b"\x89PNG the bill"


def test_what_the_commands_write_is_0600(tmp_path: Path) -> None:
    assert complaintbot(["run"], tmp_path, stdin=CONSOLE_INTAKE).returncode == 0
    # One output existed before, readable by everyone: it is closed before it is written.
    before = tmp_path / "ledger.xlsx"
    before.write_bytes(b"old")
    os.chmod(before, 0o644)
    for kind, name in (("csv", "ledger.csv"), ("xlsx", "ledger.xlsx")):
        exported = complaintbot(
            ["ledger", "export", "--format", kind, "-o", name, "--unmasked", "--reason", "audit"],
            tmp_path,
        )
        assert exported.returncode == 0, exported.stderr
        assert mode(tmp_path / name) == 0o600, name
    assert "13812345678" in (tmp_path / "ledger.csv").read_text(encoding="utf-8-sig")

    person = complaintbot(
        ["privacy", "export", "--contact", "13812345678", "-o", "person.json"], tmp_path
    )
    assert person.returncode == 0, person.stderr
    assert mode(tmp_path / "person.json") == 0o600
    (found,) = json.loads((tmp_path / "person.json").read_text(encoding="utf-8"))["complainants"]
    assert found["phone"] == "+8613812345678"

    # The report: a directory it makes is 0700; every file in it 0600, also one that
    # was there before, readable by everyone.
    (tmp_path / "old-report").mkdir()
    (tmp_path / "old-report" / "report.html").write_text("old", encoding="utf-8")
    os.chmod(tmp_path / "old-report" / "report.html", 0o644)
    for directory in ("report", "old-report"):
        report = complaintbot(["report", "-o", directory], tmp_path)
        assert report.returncode == 0, report.stderr
        written = [p for p in (tmp_path / directory).rglob("*") if p.is_file()]
        assert {p.name for p in written} >= {"report.html", "metrics.json"}
        assert any(p.suffix == ".svg" for p in written)
        assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
        assert mode(tmp_path / directory / "charts") == 0o700
    assert mode(tmp_path / "report") == 0o700
