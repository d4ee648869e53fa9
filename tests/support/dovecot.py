"""A real IMAP server for the tests: dovecot, started without systemd from a temp config.

One static user with a Maildir, plaintext login on a free loopback port. Mail is
delivered with IMAP APPEND (stdlib `imaplib`), as any client would.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tests.support.certificates import self_signed

USER = "support@corp.example"
PASSWORD = "secret-imap-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    def __init__(self, root: Path, extra_config: str = "", tls: bool = False) -> None:
        self.root = root
        self.extra_config = extra_config
        # With `tls`: a self-signed certificate for 127.0.0.1 (`certificate`), STARTTLS on
        # `port` and implicit TLS on `tls_port`.
        self.tls = tls
        self.tls_port = free_port() if tls else 0
        self.certificate = root / "cert.pem"
        self.port = free_port()
        self.config = root / "dovecot.conf"
        self.binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def in_temp_dir(cls, extra_config: str = "", tls: bool = False) -> Dovecot:
        """A server in a fresh directory outside pytest's: dovecot's own users must reach
        its files, and pytest's directories are private to root."""
        root = Path(tempfile.mkdtemp(prefix="complaintbot-dovecot-"))
        root.chmod(0o755)
        return cls(root, extra_config, tls)

    def remove(self) -> None:
        """Stops the server and deletes its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def write_config(self) -> None:
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        for name in ("run", "state"):
            (self.root / name).mkdir(exist_ok=True)
        shutil.chown(home, 65534, 65534)
        (self.root / "users").write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:65534:65534::{home}\n", encoding="utf-8"
        )
        ssl = "ssl = no"
        if self.tls:
            _certificate, key = self_signed(self.root)
            # The login log names the port and whether TLS was on ("TLS" or "secured").
            ssl = (
                f"ssl = yes\nssl_cert = <{self.certificate}\nssl_key = <{key}\n"
                "login_log_format_elements = user=<%u> method=%m port=%a %c"
            )
        self.config.write_text(
            f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
shutdown_clients = yes
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = {"yes" if self.tls else "no"}
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.root}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
{self.extra_config}
""",
            encoding="utf-8",
        )

    def start(self) -> None:
        if not self.config.exists():
            self.write_config()
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own process group, so that stopping it ends the imap processes too:
            # they outlive the master otherwise, and keep their connections open.
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot did not start: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        if self._process is None:
            return
        # What `doveadm stop` does, without its three seconds of waiting.
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process = None

    def start_if_stopped(self) -> None:
        if self._process is None:
            self.start()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    # ----- a mail client's view ----------------------------------------------------------

    def client(self) -> imaplib.IMAP4:
        client = (
            imaplib.IMAP4_SSL(
                "127.0.0.1",
                self.tls_port,
                ssl_context=ssl.create_default_context(cafile=self.certificate),
            )
            if self.tls
            else imaplib.IMAP4("127.0.0.1", self.port)
        )
        client.login(USER, PASSWORD)
        return client

    def append(self, raw: bytes, mailbox: str = "INBOX", arrived: datetime | None = None) -> None:
        """Delivers a mail; `arrived` is its arrival time in the mailbox (INTERNALDATE)."""
        client = self.client()
        try:
            when = imaplib.Time2Internaldate(arrived) if arrived else None
            status, answer = client.append(mailbox, "", when, raw)
            assert status == "OK", answer
        finally:
            client.logout()

    def flags(self, mailbox: str = "INBOX") -> list[set[str]]:
        """The flags of each message in the mailbox, in UID order."""
        client = self.client()
        try:
            client.select(mailbox)
            _status, data = client.uid("fetch", "1:*", "(FLAGS)")
            found = [re.search(rb"FLAGS \(([^)]*)\)", line) for line in data if line]
            return [set(m.group(1).decode().split()) for m in found if m]
        finally:
            client.logout()

    def clear(self) -> None:
        """An empty INBOX and no other folder (between tests that share the server)."""
        client = self.client()
        try:
            _status, folders = client.list()
            for line in folders:
                name = (
                    line.decode().rsplit(" ", 1)[-1].strip('"') if isinstance(line, bytes) else ""
                )
                if name and name != "INBOX":
                    client.delete(name)
            _status, data = client.select("INBOX")
            if data and data[0] not in (b"0", None):
                client.store("1:*", "+FLAGS", "(\\Deleted)")
                client.expunge()
        finally:
            client.logout()
