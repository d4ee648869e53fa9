"""Which files are taken as evidence where the complainant uploads them (a web form):
pictures and documents, recognised by their bytes, never by the type the browser
claims.

Pictures and PDFs carry a signature at their start; Word and Excel files are an OLE
container (.doc, .xls) or a ZIP with the Office parts (.docx, .xlsx); a text file is
one that decodes as text. What is recognised is stored with the type found here.
"""

from __future__ import annotations

import io
import zipfile

# The signatures at a file's start (and where), with the type they mean.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_TYPES = {"doc": "application/msword", "xls": "application/vnd.ms-excel"}
_OFFICE_TYPES = {
    "docx": (
        "word/",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "xlsx": ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
# What the file picker offers (`accept`); the server decides by the bytes all the same.
ACCEPTED = (
    "image/jpeg,image/png,image/gif,image/webp,image/heic,image/heif,.heic,.heif,"
    "application/pdf,.pdf,.doc,.docx,.xls,.xlsx,.txt,text/plain"
)


def evidence_type(name: str, data: bytes) -> str | None:
    """The type `data` is, when it is a picture or a document taken as evidence;
    None for anything else (a program, an archive, a file whose bytes are not what its
    name says)."""
    for signature, offset, mime in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if data[:8] == _OLE:
        return _OLE_TYPES.get(extension)
    if data[:4] == b"PK\x03\x04" and extension in _OFFICE_TYPES:
        part, mime = _OFFICE_TYPES[extension]
        return mime if _zip_has(data, part) else None
    if extension == "txt" and _is_text(data):
        return "text/plain"
    return None


def _zip_has(data: bytes, folder: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith(folder) for n in names)


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False
