"""Files sent in the web chat: checked by what they are (their first bytes, never the
browser's word) and by size, then kept in DATA_DIR until the case's evidence takes a
copy."""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from io import BytesIO
from pathlib import Path

# Images and documents a complaint's evidence is made of.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc, .xls
)
_OFFICE = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_OLE_BY_SUFFIX = {".doc": "application/msword", ".xls": "application/vnd.ms-excel"}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\<>:\"|?*]+")
MAX_NAME = 120


def sniff(data: bytes, name: str) -> str | None:
    """The file's type from its content; None when it is none the chat takes."""
    head = data[:16]
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            if mime == "application/x-ole-storage":
                return _OLE_BY_SUFFIX.get(Path(name).suffix.lower())
            return mime
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "image/heic"
    if head.startswith(b"PK\x03\x04"):
        return _office(data)
    if Path(name).suffix.lower() == ".txt":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/plain"
    return None


def _office(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return None
    for prefix, mime in _OFFICE.items():
        if any(n.startswith(prefix) for n in names):
            return mime
    return None


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
