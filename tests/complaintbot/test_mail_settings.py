"""Email settings: each wrong or missing one stops start-up with one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.complaintbot.test_cli import complaintbot

COMPLETE = {
    "IMAP_HOST": "127.0.0.1",
    "IMAP_USERNAME": "support@corp.example",
    "IMAP_PASSWORD": "imap-secret",
    "SMTP_HOST": "127.0.0.1",
    "MAIL_FROM": "投诉受理 <support@corp.example>",
}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"IMAP_SECURITY": "tls"}, "Setting IMAP_SECURITY is wrong: must be ssl, starttls or none"),
        ({"SMTP_SECURITY": "yes"}, "Setting SMTP_SECURITY is wrong"),
        ({"SMTP_PORT": "70000"}, "Setting SMTP_PORT is wrong: must be a port number"),
        ({"IMAP_PORT": "imap"}, "Setting IMAP_PORT is wrong"),
        ({"IMAP_POLL_SECONDS": "0"}, "Setting IMAP_POLL_SECONDS is wrong"),
        ({"MAIL_FROM": "nobody"}, "Setting MAIL_FROM is wrong: must be an address"),
        ({"MAIL_AUTO_REPLY_LIMIT": "0"}, "Setting MAIL_AUTO_REPLY_LIMIT is wrong"),
        ({"IMAP_USERNAME": ""}, "Setting IMAP_USERNAME is wrong: required when IMAP_HOST is set"),
        ({"IMAP_PASSWORD": ""}, "Setting IMAP_PASSWORD is wrong: required when IMAP_HOST is set"),
        ({"SMTP_HOST": ""}, "Setting SMTP_HOST is wrong: required when IMAP_HOST is set"),
        ({"MAIL_FROM": ""}, "Setting MAIL_FROM is wrong: required when IMAP_HOST is set"),
    ],
)
def test_a_wrong_email_setting_stops_start_up_with_one_line(
    tmp_path: Path, changes: dict[str, str], named: str
) -> None:
    run = complaintbot(["run"], tmp_path, {**COMPLETE, **changes})
    assert run.returncode == 2
    assert run.stderr.startswith(named), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "imap-secret" not in run.stderr
