"""Evidence files on disk, addressed by their sha256 so a re-sent file is stored once;
and how any file or directory holding personal data is created: closed to other users
(files 0600, directories 0700) from the moment it exists, whatever the umask."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700


def private_directory(path: Path) -> None:
    """Creates `path` and its missing parents as 0700; an existing `path` is closed to
    other users too. Created with the mode (never more open than 0700, whatever the
    umask), then set exactly, so no moment leaves it readable by others."""
    missing = [d for d in (path, *path.parents) if not d.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            directory.mkdir(mode=PRIVATE_DIRECTORY)
        os.chmod(directory, PRIVATE_DIRECTORY)
    if not missing:
        with contextlib.suppress(PermissionError):  # another user's: theirs to decide
            os.chmod(path, PRIVATE_DIRECTORY)


def open_private(path: Path) -> BinaryIO:
    """`path` opened for writing (created, or emptied), 0600 before a byte is written:
    for every file with personal data (exports, reports)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    handle = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(handle, PRIVATE_FILE)  # an existing file keeps its mode otherwise
    except OSError:
        os.close(handle)
        raise
    return os.fdopen(handle, "wb")


def write_private_text(path: Path, text: str) -> None:
    """Writes `text` as UTF-8 to `path`, a file only its owner can read (see `open_private`)."""
    with open_private(path) as out:
        out.write(text.encode("utf-8"))


class EvidenceFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "evidence"

    def prepare(self) -> None:
        """The data directory and its evidence directory, closed to other users (created
        when missing, tightened when they exist)."""
        private_directory(self.root.parent)
        private_directory(self.root)

    def put(self, data: bytes) -> tuple[str, str]:
        """Writes the bytes (atomically) and returns (sha256, path relative to the data dir)."""
        digest = hashlib.sha256(data).hexdigest()
        relative = Path("evidence") / digest[:2] / digest
        target = self.root / digest[:2] / digest
        if not target.exists():
            private_directory(target.parent)
            # mkstemp creates the file 0600.
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        return digest, relative.as_posix()

    def put_file(self, source: Path, sha256: str) -> tuple[str, str]:
        """Copies a file (in blocks, never whole in memory) whose sha256 the caller has
        computed while writing it; returns (sha256, path relative to the data dir)."""
        relative = Path("evidence") / sha256[:2] / sha256
        target = self.root / sha256[:2] / sha256
        if not target.exists():
            private_directory(target.parent)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(handle, "wb") as out, source.open("rb") as data:
                for block in iter(lambda: data.read(1 << 20), b""):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        return sha256, relative.as_posix()

    def read(self, sha256: str) -> bytes:
        return (self.root / sha256[:2] / sha256).read_bytes()

    def path(self, relative: str) -> Path:
        return self.root.parent / relative

    def check(self, relative: str, sha256: str) -> str:
        """ "ok" when the file is there with this checksum, else "missing", "mismatch",
        or "erased" (removed on the complainant's request: no path left)."""
        if not relative:
            return "erased"
        target = self.path(relative)
        if not target.is_file():
            return "missing"
        digest = hashlib.sha256()
        with target.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "ok" if digest.hexdigest() == sha256 else "mismatch"

    def remove(self, relative: str) -> None:
        self.path(relative).unlink(missing_ok=True)
