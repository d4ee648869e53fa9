"""Mail servers for the channel tests: one dovecot for the session, an SMTP server per test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dovecot import Dovecot
from tests.support.smtp_server import SmtpServer


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    # Not under pytest's temp dir: dovecot's own users must reach the files, and
    # pytest's directories are private to root.
    root = Path(tempfile.mkdtemp(prefix="complaintbot-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The session's dovecot with an empty INBOX."""
    dovecot_server.start_if_stopped()
    dovecot_server.clear()
    return dovecot_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
