"""Evidence files on disk, addressed by their sha256 so a re-sent file is stored once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class EvidenceFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "evidence"

    def put(self, data: bytes) -> tuple[str, str]:
        """Writes the bytes (atomically) and returns (sha256, path relative to the data dir)."""
        digest = hashlib.sha256(data).hexdigest()
        relative = Path("evidence") / digest[:2] / digest
        target = self.root / digest[:2] / digest
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
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
            target.parent.mkdir(parents=True, exist_ok=True)
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
