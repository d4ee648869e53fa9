"""A self-signed certificate for 127.0.0.1, for the test servers that speak TLS."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(directory: Path) -> tuple[Path, Path]:
    """Writes (certificate, key) into `directory` with the openssl command."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    request = "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
    subprocess.run(
        [
            "openssl",
            *request.split(),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key
