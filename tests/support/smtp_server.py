"""A real SMTP server for the tests: aiosmtpd on loopback, recording what arrives.

`Controller(port=0)` does not work in aiosmtpd 1.4.6 (upstream #276), so a free port
is chosen first; it is kept across `stop`/`start` so a test can take the server away
and bring it back.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

from tests.support.dovecot import free_port


@dataclass(frozen=True, slots=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    raw: bytes


class _Recorder:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.server.unknown:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or envelope.content or b"")
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.server.messages.append(
            Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), message, raw)
        )
        return "250 Message accepted"


class SmtpServer:
    """`security` as in SMTP_SECURITY (`ssl`, `starttls`, `none`); with `login`, the
    server requires that user name and password."""

    def __init__(
        self,
        security: str = "none",
        login: tuple[str, str] | None = None,
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        self.port = free_port()
        self.security = security
        self.login = login
        self.certificate = certificate
        self.messages: list[Received] = []
        self.unknown: set[str] = set()
        self._controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.security != "none":
            assert self.certificate is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.certificate)
            key = "ssl_context" if self.security == "ssl" else "tls_context"
            options[key] = context
            options["require_starttls"] = self.security == "starttls"
        if self.login is not None:
            # aiosmtpd counts only STARTTLS as TLS; with implicit TLS it must be told.
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.security != "ssl",
            )
        self._controller = Controller(
            _Recorder(self), hostname="127.0.0.1", port=self.port, **options
        )
        self._controller.start()

    def _authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        given = (bytes(data.login).decode(), bytes(data.password).decode())
        # handled=False, or aiosmtpd leaves the client waiting for an answer.
        return AuthResult(success=given == self.login, handled=False)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.recipients]
