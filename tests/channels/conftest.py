"""Mail servers for the channel tests: one dovecot for the session, an SMTP server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dovecot import Dovecot
from tests.support.smtp_server import SmtpServer


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    server = Dovecot.in_temp_dir()
    server.start()
    try:
        yield server
    finally:
        server.remove()


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
