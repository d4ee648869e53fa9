"""The staff users directory from the command line: add, list, disable, reset a password,
and bad input. Passwords are stored as argon2 hashes and never shown."""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from sqlalchemy import text

from storage.database import create_engine
from tests.complaintbot.test_cli import complaintbot

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple 8812 lantern"


async def _stored_hash(database_url: str, login: str) -> str:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return (
                await connection.execute(
                    text("SELECT password_hash FROM staff_users WHERE login = :login"),
                    {"login": login},
                )
            ).scalar_one()
    finally:
        await engine.dispose()


def _verifies(stored: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(stored, password)
    except VerifyMismatchError:
        return False


def _password_file(tmp_path: Path, password: str, name: str = "password.txt") -> Path:
    path = tmp_path / name
    path.write_text(f"  {password}  \nnot this line\n", encoding="utf-8")
    return path


async def test_staff_users_are_added_listed_and_disabled(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url}
    secret = _password_file(tmp_path, PASSWORD)
    added = complaintbot(
        [
            "users",
            "add",
            "Li.Lei",
            "--role",
            "supervisor",
            "--name",
            "李雷",
            "--team",
            "账单组",
            "--telegram-id",
            "4242424242",
            "--password-file",
            str(secret),
        ],
        tmp_path,
        env,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "已添加员工用户 li.lei，角色为 supervisor。"
    # Asked twice, the way an operator types it.
    asked = complaintbot(
        ["users", "add", "han_mei", "--role", "agent"],
        tmp_path,
        env,
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert asked.returncode == 0, asked.stderr
    assert "已添加员工用户 han_mei，角色为 agent。" in asked.stdout
    assert PASSWORD not in asked.stdout + asked.stderr

    listed = complaintbot(["users", "list"], tmp_path, env)
    assert listed.stdout.splitlines() == [
        "han_mei  han_mei  agent  -  -  启用",
        "li.lei  李雷  supervisor  账单组  4242424242  启用",
    ]
    for login in ("li.lei", "han_mei"):
        stored = await _stored_hash(database_url, login)
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert _verifies(stored, PASSWORD)
        assert stored not in listed.stdout

    disabled = complaintbot(["users", "disable", "LI.LEI"], tmp_path, env)
    assert (disabled.returncode, disabled.stdout.strip()) == (0, "已停用员工用户 li.lei。")
    listed = complaintbot(["users", "list"], tmp_path, env)
    assert "li.lei  李雷  supervisor  账单组  4242424242  已停用" in listed.stdout.splitlines()


async def test_a_reset_password_replaces_the_old_one(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    add = ["users", "add", "audit1", "--role", "auditor"]
    old = _password_file(tmp_path, PASSWORD)
    assert complaintbot([*add, "--password-file", str(old)], tmp_path, env).returncode == 0
    before = await _stored_hash(database_url, "audit1")

    by_file = _password_file(tmp_path, NEW_PASSWORD, "new.txt")
    reset = complaintbot(
        ["users", "reset-password", "audit1", "--password-file", str(by_file)], tmp_path, env
    )
    assert (reset.returncode, reset.stdout.strip()) == (0, "Password of staff user audit1 changed.")
    after = await _stored_hash(database_url, "audit1")
    assert after != before
    assert not _verifies(after, PASSWORD) and _verifies(after, NEW_PASSWORD)

    asked = complaintbot(
        ["users", "reset-password", "audit1"], tmp_path, env, stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert asked.returncode == 0, asked.stderr
    assert PASSWORD not in asked.stdout + asked.stderr
    final = await _stored_hash(database_url, "audit1")
    assert _verifies(final, PASSWORD) and not _verifies(final, NEW_PASSWORD)


async def test_bad_staff_user_input_gets_one_sentence(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    secret = str(_password_file(tmp_path, PASSWORD))
    short = str(_password_file(tmp_path, "short pass", "short.txt"))
    missing = str(tmp_path / "nowhere.txt")
    add = ["users", "add", "lilei", "--role", "agent", "--password-file"]
    first = complaintbot([*add, secret, "--telegram-id", "77"], tmp_path, env)
    assert first.returncode == 0, first.stderr

    answers = [
        complaintbot(args, tmp_path, env)
        for args in (
            [*add, short],
            ["users", "add", "hanmei", "--role", "agent", "--password-file", missing],
            [*add, secret],
            [
                "users",
                "add",
                "hanmei",
                "--role",
                "agent",
                "--telegram-id",
                "77",
                "--password-file",
                secret,
            ],
            ["users", "add", "li lei", "--role", "agent", "--password-file", secret],
            ["users", "disable", "nobody"],
            ["users", "reset-password", "nobody", "--password-file", secret],
            ["users", "reset-password", "lilei", "--password-file", short],
        )
    ]
    assert [(r.returncode, r.stderr.strip()) for r in answers] == [
        (2, "The password is too short: use at least 12 characters."),
        (2, f"Cannot read the password file {missing}: No such file or directory"),
        (1, "A staff user with the login lilei already exists."),
        (1, "The Telegram id 77 already belongs to another staff user."),
        (
            2,
            "“li lei” cannot be a login: use up to 64 letters, digits, '-', '_' or '.', "
            "for example li.lei.",
        ),
        (1, "No staff user has the login nobody."),
        (1, "No staff user has the login nobody."),
        (2, "The password is too short: use at least 12 characters."),
    ]
    bad_role = complaintbot([*add[:3], "--role", "admin", "--password-file", secret], tmp_path, env)
    assert bad_role.returncode == 2
    assert "Invalid value for '--role'" in bad_role.stderr
    listed = complaintbot(["users", "list"], tmp_path, env)
    assert listed.stdout.splitlines() == ["lilei  lilei  agent  -  77  active"]
    assert _verifies(await _stored_hash(database_url, "lilei"), PASSWORD)


async def test_the_prompted_password_must_be_typed_the_same_twice(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en"}
    typo = complaintbot(
        ["users", "add", "lilei", "--role", "agent"],
        tmp_path,
        env,
        stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert typo.returncode != 0
    assert PASSWORD not in typo.stdout + typo.stderr
    assert complaintbot(["users", "list"], tmp_path, env).stdout.strip() == "No staff users."
