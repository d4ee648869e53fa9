"""Files sent in the web chat, once checked by what they are (`bot.file_kinds`: their
bytes, never the browser's word) and by size: a name fit to show, and a copy in
DATA_DIR until the case's evidence takes its own."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\<>:\"|?*]+")
MAX_NAME = 120


def safe_name(name: str) -> str:
    """A file name fit to store and show: no path, no control characters."""
    base = _UNSAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip(" .")
    return (base or "file")[:MAX_NAME]


def keep_upload(directory: Path, data: bytes) -> tuple[str, Path]:
    """Writes the file under its SHA-256 (once); returns the digest and the path."""
    digest = hashlib.sha256(data).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / digest
    if not path.exists():
        partial = directory / f".{digest}.{os.getpid()}"
        partial.write_bytes(data)
        partial.replace(path)
    return digest, path
