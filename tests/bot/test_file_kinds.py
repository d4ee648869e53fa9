"""Evidence uploaded through a form is recognised by its bytes, never by its name alone."""

from __future__ import annotations

import io
import zipfile

import pytest

from bot.file_kinds import evidence_type

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _office(folder: str) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}document.xml", "<x/>")
    return packed.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 16, "image/jpeg"),
        ("a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 16, "image/png"),
        ("a.gif", b"GIF89a" + b"\0" * 16, "image/gif"),
        ("a.webp", b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        ("IMG_1.HEIC", b"\0\0\0\x18ftypheic\0\0\0\0", "image/heic"),
        ("bill.pdf", b"%PDF-1.7\n", "application/pdf"),
        ("bill", b"%PDF-1.7\n", "application/pdf"),
        ("a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16, "application/msword"),
        ("a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16, "application/vnd.ms-excel"),
        (
            "a.docx",
            _office("word/"),
            DOCX,
        ),
        (
            "a.xlsx",
            _office("xl/"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("note.txt", "扣费记录：3 月 2 日".encode(), "text/plain"),
        ("note.txt", "扣费记录".encode("gb18030"), "text/plain"),
    ],
)
def test_pictures_and_documents_are_recognised(name: str, data: bytes, expected: str) -> None:
    assert evidence_type(name, data) == expected


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.exe", b"MZ\x90\0" + b"\0" * 32),
        ("photo.png", b"MZ\x90\0" + b"\0" * 32),  # a program named as a picture
        ("a.docx", _office("xl/")),  # a spreadsheet is not a Word file
        ("a.docx", b"PK\x03\x04 not a zip"),
        ("a.zip", _office("word/")),
        ("a.doc", b"PK\x03\x04"),
        ("note.txt", b"text\0with a NUL"),
        ("page.html", b"<html><script>alert(1)</script>"),
        ("empty.png", b""),
    ],
)
def test_anything_else_is_refused(name: str, data: bytes) -> None:
    assert evidence_type(name, data) is None
